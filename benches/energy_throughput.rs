//! Energy + gradient throughput of the shipped model systems through the plugin ABI, on 1 and
//! 2 threads: `cargo bench --bench energy_throughput`.
//!
//! Each iteration evaluates u and ∇u for a batch of points drawn once from a fixed seed, through
//! the same path the trainer and the CLI use (`System::evaluate_into`).

use boltzflow::config::load_system;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use std::path::Path;

/// Points per batch.
const BATCH: usize = 8192;

fn throughput(c: &mut Criterion) {
    let systems = [
        ("gmm40", "examples/systems/gmm40.ron", 20.0),
        ("many_well32", "examples/systems/many_well32.ron", 1.5),
        (
            "quantum_dw_N16",
            "examples/systems/quantum_double_well_N16_m3.ron",
            1.5,
        ),
    ];
    let mut group = c.benchmark_group("energy_and_gradient");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (name, file, scale) in systems {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let (_, system) = load_system(&path).unwrap_or_else(|e| panic!("{e}"));
        let dim = system.dim();
        let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
        let x: Vec<f64> = (0..BATCH * dim)
            .map(|_| {
                let z: f64 = StandardNormal.sample(&mut rng);
                scale * z
            })
            .collect();
        let mut u = vec![0.0; BATCH];
        let mut grad = vec![0.0; BATCH * dim];
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            group.bench_with_input(
                BenchmarkId::new(name, format!("{threads}thr")),
                &threads,
                |b, _| {
                    b.iter(|| {
                        pool.install(|| system.evaluate_into(&x, &mut u, Some(&mut grad)).unwrap())
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
