/*
 * A complete boltzflow energy plugin in C: an isotropic harmonic well u(x) = (k/2) |x|^2.
 *
 * Build:   cc -shared -fPIC -O2 -I ../../plugins/sdk/include harmonic.c -o libharmonic.so
 * Use:     System(plugin: "examples/c-plugin/libharmonic.so", config: (dim: 3, k: 2.0))
 *
 * Configuration (RON text, fields optional): dim (default 1), k (default 1.0), and atoms: with
 * atoms = A, the system describes A argon-like atoms at 300 K (dim = 3A, positions in nm), which
 * exercises the molecular metadata.
 *
 * Exact log Z = (dim/2) log(2 pi / k); exact samples x ~ N(0, I/k).
 *
 * Compile-time switches used by boltzflow's tests: -DHARMONIC_NOT_THREAD_SAFE clears the
 * thread-safe flag; -DHARMONIC_ABI_VERSION=N reports another ABI version; the load-time checks
 * see -DHARMONIC_NULL_ENERGY (a NULL energy function), -DHARMONIC_NULL_SAMPLE (no sampler
 * function, though the flags promise one) and -DHARMONIC_EXTRA_ATOM (one atom more in the
 * metadata than the dimension holds).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boltzflow_plugin.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#ifndef HARMONIC_ABI_VERSION
#define HARMONIC_ABI_VERSION BF_ABI_VERSION
#endif

/* The test switches leave some functions out of the table. */
#if defined(__GNUC__)
#define MAYBE_UNUSED __attribute__((unused))
#else
#define MAYBE_UNUSED
#endif

#ifdef HARMONIC_EXTRA_ATOM
#define METADATA_ATOMS(atoms) ((atoms) + 1)
#else
#define METADATA_ATOMS(atoms) (atoms)
#endif

typedef struct {
    uint64_t dim;
    double k;
    long atoms;
    char *metadata;
} Harmonic;

static void set_error(char *err, size_t err_len, const char *message) {
    if (err != NULL && err_len > 0) {
        snprintf(err, err_len, "%s", message);
    }
}

/* Reads the number after "name:" in a RON text; returns 1 if the field is present. */
static int field(const char *config, const char *name, double *out) {
    const char *p = config;
    size_t len = strlen(name);
    while ((p = strstr(p, name)) != NULL) {
        const char *q = p + len;
        int starts_word = (p == config) || !(p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z'));
        while (*q == ' ') q++;
        if (starts_word && *q == ':') {
            char *end;
            *out = strtod(q + 1, &end);
            return end != q + 1;
        }
        p += len;
    }
    return 0;
}

static int32_t create(const char *config, const char *base_dir, void **out, char *err,
                      size_t err_len) {
    (void)base_dir; /* this plugin reads no files */
    double dim = 1, k = 1.0, atoms = 0;
    field(config, "dim", &dim);
    field(config, "k", &k);
    int molecular = field(config, "atoms", &atoms);
    if (molecular) dim = 3 * atoms;
    if (!(k > 0) || !(dim >= 1)) {
        set_error(err, err_len, "harmonic: k must be positive and dim (or atoms) at least 1");
        return BF_STATUS_ERROR;
    }
    Harmonic *h = calloc(1, sizeof(Harmonic));
    if (h == NULL) {
        set_error(err, err_len, "harmonic: out of memory");
        return BF_STATUS_ERROR;
    }
    h->dim = (uint64_t)dim;
    h->k = k;
    h->atoms = molecular ? (long)atoms : 0;
    size_t cap = 512 + 96 * (size_t)METADATA_ATOMS(h->atoms);
    h->metadata = malloc(cap);
    if (h->metadata == NULL) {
        free(h);
        set_error(err, err_len, "harmonic: out of memory");
        return BF_STATUS_ERROR;
    }
    int n = snprintf(h->metadata, cap,
                     "{\"system\": \"harmonic well\", \"description\": \"u = k/2 |x|^2 (C plugin)\", "
                     "\"parameters\": {\"dim\": %llu, \"k\": %.17g}",
                     (unsigned long long)h->dim, k);
    if (molecular) {
        n += snprintf(h->metadata + n, cap - n,
                      ", \"temperature_kelvin\": 300.0, \"energy_unit\": \"kJ/mol\", "
                      "\"molecule\": {\"atoms\": [");
        for (long i = 0; i < METADATA_ATOMS(h->atoms); i++) {
            n += snprintf(h->metadata + n, cap - n,
                          "%s{\"name\": \"AR%ld\", \"element\": \"Ar\", \"mass\": 39.948}",
                          i ? ", " : "", i);
        }
        n += snprintf(h->metadata + n, cap - n, "]}");
    }
    snprintf(h->metadata + n, cap - n, "}");
    *out = h;
    return BF_STATUS_OK;
}

static void destroy(void *instance) {
    Harmonic *h = instance;
    free(h->metadata);
    free(h);
}

static uint64_t dim(const void *instance) { return ((const Harmonic *)instance)->dim; }

static uint32_t flags(const void *instance) {
    (void)instance;
    uint32_t f = BF_FLAG_EXACT_LOG_Z | BF_FLAG_EXACT_SAMPLER;
#ifndef HARMONIC_NOT_THREAD_SAFE
    f |= BF_FLAG_THREAD_SAFE;
#endif
    return f;
}

static const char *metadata(const void *instance) { return ((const Harmonic *)instance)->metadata; }

MAYBE_UNUSED static int32_t energy(const void *instance, uint64_t n, const double *x, double *u, double *grad,
                      char *err, size_t err_len) {
    (void)err;
    (void)err_len;
    const Harmonic *h = instance;
    for (uint64_t i = 0; i < n; i++) {
        double s = 0;
        for (uint64_t j = 0; j < h->dim; j++) {
            double v = x[i * h->dim + j];
            s += v * v;
            if (grad != NULL) grad[i * h->dim + j] = h->k * v;
        }
        u[i] = 0.5 * h->k * s;
    }
    return BF_STATUS_OK;
}

static int32_t log_z(const void *instance, double *out) {
    const Harmonic *h = instance;
    *out = 0.5 * (double)h->dim * log(2.0 * M_PI / h->k);
    return BF_STATUS_OK;
}

/* SplitMix64: a small, good, seedable generator. */
static uint64_t next_u64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform_open(uint64_t *state) { return ((next_u64(state) >> 11) + 0.5) * 0x1.0p-53; }

MAYBE_UNUSED static int32_t sample(const void *instance, uint64_t seed, uint64_t n, double *out, char *err,
                      size_t err_len) {
    (void)err;
    (void)err_len;
    const Harmonic *h = instance;
    uint64_t state = seed;
    double scale = 1.0 / sqrt(h->k);
    for (uint64_t i = 0; i < n * h->dim; i++) {
        /* Box-Muller: one normal per pair of uniforms (simple rather than fast). */
        double r = sqrt(-2.0 * log(uniform_open(&state)));
        out[i] = scale * r * cos(2.0 * M_PI * uniform_open(&state));
    }
    return BF_STATUS_OK;
}

const BfPluginApi *boltzflow_plugin(void) {
    static const BfPluginApi api = {
        .abi_version = HARMONIC_ABI_VERSION,
        .struct_size = sizeof(BfPluginApi),
        .name = "harmonic",
        .version = "1.0.0",
        .create = create,
        .destroy = destroy,
        .dim = dim,
        .flags = flags,
        .metadata = metadata,
#ifdef HARMONIC_NULL_ENERGY
        .energy = NULL,
#else
        .energy = energy,
#endif
        .log_z = log_z,
#ifdef HARMONIC_NULL_SAMPLE
        .sample = NULL,
#else
        .sample = sample,
#endif
    };
    return &api;
}
