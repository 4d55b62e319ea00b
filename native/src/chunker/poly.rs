//! Polynomials over GF(2) packed in integers (bit i = coefficient of x^i), as restic's chunker
//! uses them (formats/restic.md §10.2).

pub fn deg(p: u128) -> i32 {
    127 - p.leading_zeros() as i32
}

/// Remainder of carry-less division.
pub fn pmod(mut a: u128, p: u64) -> u64 {
    let p = p as u128;
    let dp = deg(p);
    while a != 0 && deg(a) >= dp {
        a ^= p << (deg(a) - dp);
    }
    a as u64
}
