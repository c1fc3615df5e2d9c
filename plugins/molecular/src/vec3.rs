//! Small fixed-size vector helpers on `[f64; 3]` (no allocation, inlined).

/// A 3-vector.
pub type V3 = [f64; 3];

/// a − b.
#[inline(always)]
pub fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// a · b.
#[inline(always)]
pub fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// a × b.
#[inline(always)]
pub fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// s · a.
#[inline(always)]
pub fn scale(s: f64, a: V3) -> V3 {
    [s * a[0], s * a[1], s * a[2]]
}

/// acc += a.
#[inline(always)]
pub fn add_to(acc: &mut V3, a: V3) {
    acc[0] += a[0];
    acc[1] += a[1];
    acc[2] += a[2];
}

/// acc −= a.
#[inline(always)]
pub fn sub_from(acc: &mut V3, a: V3) {
    acc[0] -= a[0];
    acc[1] -= a[1];
    acc[2] -= a[2];
}
