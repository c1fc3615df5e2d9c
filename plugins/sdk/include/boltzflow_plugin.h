/*
 * boltzflow_plugin.h: the C ABI of boltzflow energy plugins (ABI version 1).
 *
 * A plugin is a shared library that exports one function,
 *
 *     const BfPluginApi *boltzflow_plugin(void);
 *
 * returning a pointer to a static function table. The host reads `abi_version` first and refuses a
 * plugin built for another version. This header mirrors `boltzflow_plugin::ffi` (Rust) exactly.
 *
 * Conventions
 *  - Energies are *reduced*: u(x) = E(x) / k_B T, dimensionless, in double precision.
 *  - Arrays are row-major: point i of a batch is x[i * dim .. (i + 1) * dim].
 *  - A fallible function returns a BF_STATUS_* code. On failure it writes a NUL-terminated UTF-8
 *    message into the caller's buffer `err` of `err_len` bytes (truncate to fit). The buffer
 *    belongs to the caller, so concurrent calls never share an error slot.
 *  - A non-finite energy is data, not a failure: return INFINITY for a forbidden configuration and
 *    NAN where the energy is undefined. The host counts such points and gives them zero weight.
 *  - Set BF_FLAG_THREAD_SAFE only if `energy` may run on one instance from several threads at once.
 *  - C++ plugins must not let exceptions escape these functions.
 *
 * See examples/c-plugin/ for a complete plugin in C.
 */
#ifndef BOLTZFLOW_PLUGIN_H
#define BOLTZFLOW_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BF_ABI_VERSION 1u

#define BF_STATUS_OK 0
#define BF_STATUS_ERROR 1
#define BF_STATUS_PANIC 2
#define BF_STATUS_UNSUPPORTED 3

#define BF_FLAG_THREAD_SAFE (1u << 0)
#define BF_FLAG_EXACT_LOG_Z (1u << 1)
#define BF_FLAG_EXACT_SAMPLER (1u << 2)

typedef struct BfPluginApi {
    /* Must be BF_ABI_VERSION. */
    uint32_t abi_version;
    /* sizeof(BfPluginApi) as the plugin was built. */
    uint32_t struct_size;
    /* Plugin name and version: static, NUL-terminated. */
    const char *name;
    const char *version;

    /* create, destroy, dim, flags, metadata and energy are required: a table with one of them
     * NULL is refused when the plugin loads. */

    /* Build an instance from its configuration (UTF-8 RON text, NUL-terminated; may be empty).
     * base_dir is the folder of the system file (NULL: the current directory); resolve relative
     * file names in the configuration against it. */
    int32_t (*create)(const char *config, const char *base_dir, void **out_instance, char *err,
                      size_t err_len);
    /* Free an instance. */
    void (*destroy)(void *instance);
    /* Number of coordinates of one point. */
    uint64_t (*dim)(const void *instance);
    /* An OR of BF_FLAG_* bits. */
    uint32_t (*flags)(const void *instance);
    /* Metadata as a NUL-terminated JSON object, owned by the instance, valid until destroy:
     * {"system": "...", "description": "...", "temperature_kelvin": null, "energy_unit": null,
     *  "parameters": {...}, "molecule": null, "angles": null}. Only "system" is required; it
     *  is checked against dim when the plugin loads (a molecule's atoms give 3 coordinates
     *  each; "angles" names every coordinate). */
    const char *(*metadata)(const void *instance);
    /* Reduced energies of n points x[n * dim] into u[n]; gradients into grad[n * dim] unless grad
     * is NULL. */
    int32_t (*energy)(const void *instance, uint64_t n, const double *x, double *u, double *grad,
                      char *err, size_t err_len);
    /* Optional (may be NULL, but not when the flags say BF_FLAG_EXACT_LOG_Z): exact log Z into
     * *out, or BF_STATUS_UNSUPPORTED. */
    int32_t (*log_z)(const void *instance, double *out);
    /* Optional (may be NULL, but not when the flags say BF_FLAG_EXACT_SAMPLER): n exact samples
     * into out[n * dim], reproducible from seed. */
    int32_t (*sample)(const void *instance, uint64_t seed, uint64_t n, double *out, char *err,
                      size_t err_len);
} BfPluginApi;

/* The one symbol a plugin exports. */
const BfPluginApi *boltzflow_plugin(void);

#ifdef __cplusplus
}
#endif

#endif /* BOLTZFLOW_PLUGIN_H */
