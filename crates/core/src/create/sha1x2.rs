//! SHA-1 of two equal-length messages at once, interleaved on the x86 SHA extensions.
//!
//! # Why this is written here
//!
//! One SHA-1 is a chain of 80 dependent rounds: on x86 its speed is set by the latency of the
//! `sha1rnds4` instruction, not by how many the core can issue, so a single stream (OpenSSL's
//! or the `sha1` crate's) leaves most of the SHA unit idle. Torrent pieces are independent
//! messages of the same length, so two of them can run through the rounds side by side and
//! the core overlaps their latencies: about 1.4 times the single-stream rate on one core. No
//! published crate hashes several SHA-1 messages at once, so the kernel is written here, in
//! the same shape as the `sha1` crate's single-stream one; everything else (short pieces, CPUs
//! without the extension, other architectures) goes through the `sha1` crate, and the tests
//! compare the two on every length they can.
//!
//! Messages are fed in whole 64-byte blocks: piece lengths are powers of two of at least
//! 16 KiB and reads are cut at multiples of 64, so only the final padding block is partial,
//! and it is the same for both messages.

use sha1::{Digest, Sha1};

/// Two SHA-1 computations over messages of equal length, fed in equal slices.
pub struct Sha1x2 {
    inner: Inner,
}

enum Inner {
    #[cfg(target_arch = "x86_64")]
    Simd {
        a: [u32; 5],
        b: [u32; 5],
        /// Bytes fed to each message so far.
        len: u64,
    },
    Scalar(Box<(Sha1, Sha1)>),
}

const IV: [u32; 5] = [
    0x6745_2301,
    0xEFCD_AB89,
    0x98BA_DCFE,
    0x1032_5476,
    0xC3D2_E1F0,
];

impl Sha1x2 {
    /// The interleaved kernel when the CPU has it, else two ordinary hashers.
    pub fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        if simd_available() {
            return Sha1x2 {
                inner: Inner::Simd {
                    a: IV,
                    b: IV,
                    len: 0,
                },
            };
        }
        Self::scalar()
    }

    /// Two ordinary hashers, whatever the CPU (the reference the kernel is tested against).
    pub fn scalar() -> Self {
        Sha1x2 {
            inner: Inner::Scalar(Box::new((Sha1::new(), Sha1::new()))),
        }
    }

    /// True when the interleaved kernel is in use.
    #[cfg(test)]
    pub fn is_interleaved(&self) -> bool {
        !matches!(self.inner, Inner::Scalar(_))
    }

    /// Feeds the next `a.len()` bytes of each message. The two slices must have the same
    /// length, a multiple of 64; anything past the shorter slice's last whole block is ignored,
    /// which callers never pass.
    pub fn update(&mut self, a: &[u8], b: &[u8]) {
        debug_assert_eq!(a.len(), b.len());
        debug_assert_eq!(a.len() % 64, 0);
        match &mut self.inner {
            #[cfg(target_arch = "x86_64")]
            Inner::Simd { a: sa, b: sb, len } => {
                let n = a.len().min(b.len()) / 64 * 64;
                // SAFETY: `Simd` is only built after `simd_available()` confirmed the CPU
                // features `compress2` is compiled for.
                unsafe { x86::compress2(sa, sb, &a[..n], &b[..n]) };
                *len += n as u64;
            }
            Inner::Scalar(h) => {
                h.0.update(a);
                h.1.update(b);
            }
        }
    }

    /// The two digests.
    pub fn finalize(self) -> ([u8; 20], [u8; 20]) {
        match self.inner {
            #[cfg(target_arch = "x86_64")]
            Inner::Simd { mut a, mut b, len } => {
                // FIPS 180-4 padding for a length that is a multiple of 64: one block holding
                // the 0x80 marker and the length in bits.
                let mut pad = [0u8; 64];
                pad[0] = 0x80;
                pad[56..].copy_from_slice(&len.wrapping_mul(8).to_be_bytes());
                // SAFETY: as in `update`.
                unsafe { x86::compress2(&mut a, &mut b, &pad, &pad) };
                (to_bytes(&a), to_bytes(&b))
            }
            Inner::Scalar(h) => {
                let (ha, hb) = *h;
                (ha.finalize().into(), hb.finalize().into())
            }
        }
    }
}

impl Default for Sha1x2 {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(target_arch = "x86_64")]
fn to_bytes(state: &[u32; 5]) -> [u8; 20] {
    let mut out = [0u8; 20];
    for (dst, word) in out.chunks_exact_mut(4).zip(state) {
        dst.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(target_arch = "x86_64")]
fn simd_available() -> bool {
    std::arch::is_x86_feature_detected!("sha")
        && std::arch::is_x86_feature_detected!("sse2")
        && std::arch::is_x86_feature_detected!("ssse3")
        && std::arch::is_x86_feature_detected!("sse4.1")
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Loads one 64-byte block as four big-endian message vectors.
    ///
    /// # Safety
    /// The CPU must support SSSE3; `block` must be at least 64 bytes long.
    #[inline(always)]
    unsafe fn load(block: &[u8], mask: __m128i) -> [__m128i; 4] {
        let p: *const __m128i = block.as_ptr().cast();
        [
            _mm_shuffle_epi8(_mm_loadu_si128(p), mask),
            _mm_shuffle_epi8(_mm_loadu_si128(p.add(1)), mask),
            _mm_shuffle_epi8(_mm_loadu_si128(p.add(2)), mask),
            _mm_shuffle_epi8(_mm_loadu_si128(p.add(3)), mask),
        ]
    }

    /// Runs the compression function over the whole blocks of `a` into `sa` and of `b` into
    /// `sb`, the rounds of the two interleaved. The slices hold the same number of blocks.
    ///
    /// Round group `k` (four rounds) computes `x[k] = sha1rnds4(x[k-1], E[k], k / 5)` where
    /// `E[0] = e + w[0]` and `E[k] = sha1nexte(x[k-2], w[k])`; the message words follow
    /// `w[k] = sha1msg2(sha1msg1(w[k-4], w[k-3]) ^ w[k-2], w[k-1])`.
    ///
    /// # Safety
    /// The CPU must support SHA, SSE2, SSSE3 and SSE4.1.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub(super) unsafe fn compress2(sa: &mut [u32; 5], sb: &mut [u32; 5], a: &[u8], b: &[u8]) {
        let mask = _mm_set_epi64x(0x0001_0203_0405_0607, 0x0809_0A0B_0C0D_0E0F);
        let mut abcd_a = _mm_shuffle_epi32(_mm_loadu_si128(sa.as_ptr().cast()), 0b00011011);
        let mut abcd_b = _mm_shuffle_epi32(_mm_loadu_si128(sb.as_ptr().cast()), 0b00011011);
        let mut e_a = _mm_set_epi32(sa[4] as i32, 0, 0, 0);
        let mut e_b = _mm_set_epi32(sb[4] as i32, 0, 0, 0);

        // `chunks_exact(64)` only yields 64-byte blocks, which is what `load` reads.
        for (block_a, block_b) in a.chunks_exact(64).zip(b.chunks_exact(64)) {
            let mut wa = load(block_a, mask);
            let mut wb = load(block_b, mask);
            // prev = x[k-2], cur = x[k-1]
            let mut prev_a = abcd_a;
            let mut prev_b = abcd_b;
            let mut cur_a = _mm_sha1rnds4_epu32::<0>(abcd_a, _mm_add_epi32(e_a, wa[0]));
            let mut cur_b = _mm_sha1rnds4_epu32::<0>(abcd_b, _mm_add_epi32(e_b, wb[0]));

            macro_rules! group {
                ($k:literal, $f:literal) => {{
                    if $k >= 4 {
                        wa[$k % 4] = _mm_sha1msg2_epu32(
                            _mm_xor_si128(
                                _mm_sha1msg1_epu32(wa[$k % 4], wa[($k + 1) % 4]),
                                wa[($k + 2) % 4],
                            ),
                            wa[($k + 3) % 4],
                        );
                        wb[$k % 4] = _mm_sha1msg2_epu32(
                            _mm_xor_si128(
                                _mm_sha1msg1_epu32(wb[$k % 4], wb[($k + 1) % 4]),
                                wb[($k + 2) % 4],
                            ),
                            wb[($k + 3) % 4],
                        );
                    }
                    let next_a =
                        _mm_sha1rnds4_epu32::<$f>(cur_a, _mm_sha1nexte_epu32(prev_a, wa[$k % 4]));
                    let next_b =
                        _mm_sha1rnds4_epu32::<$f>(cur_b, _mm_sha1nexte_epu32(prev_b, wb[$k % 4]));
                    prev_a = cur_a;
                    prev_b = cur_b;
                    cur_a = next_a;
                    cur_b = next_b;
                }};
            }
            group!(1, 0);
            group!(2, 0);
            group!(3, 0);
            group!(4, 0);
            group!(5, 1);
            group!(6, 1);
            group!(7, 1);
            group!(8, 1);
            group!(9, 1);
            group!(10, 2);
            group!(11, 2);
            group!(12, 2);
            group!(13, 2);
            group!(14, 2);
            group!(15, 3);
            group!(16, 3);
            group!(17, 3);
            group!(18, 3);
            group!(19, 3);

            e_a = _mm_sha1nexte_epu32(prev_a, e_a);
            e_b = _mm_sha1nexte_epu32(prev_b, e_b);
            abcd_a = _mm_add_epi32(abcd_a, cur_a);
            abcd_b = _mm_add_epi32(abcd_b, cur_b);
        }

        _mm_storeu_si128(
            sa.as_mut_ptr().cast(),
            _mm_shuffle_epi32(abcd_a, 0b00011011),
        );
        _mm_storeu_si128(
            sb.as_mut_ptr().cast(),
            _mm_shuffle_epi32(abcd_b, 0b00011011),
        );
        sa[4] = _mm_extract_epi32(e_a, 3) as u32;
        sb[4] = _mm_extract_epi32(e_b, 3) as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(data: &[u8]) -> [u8; 20] {
        Sha1::digest(data).into()
    }

    fn run(mut h: Sha1x2, a: &[u8], b: &[u8], cut: usize) -> ([u8; 20], [u8; 20]) {
        let mut off = 0;
        while off < a.len() {
            let n = cut.min(a.len() - off);
            h.update(&a[off..off + n], &b[off..off + n]);
            off += n;
        }
        h.finalize()
    }

    #[test]
    fn known_answer_and_empty() {
        // The empty message: one padding block.
        let empty = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
        let (a, b) = Sha1x2::new().finalize();
        assert_eq!(crate::ids::to_hex(&a), empty);
        assert_eq!(crate::ids::to_hex(&b), empty);
        // 64 bytes of 'a' against the reference.
        let (a, b) = run(Sha1x2::new(), &[b'a'; 64], &[b'b'; 64], 64);
        assert_eq!(a, reference(&[b'a'; 64]));
        assert_eq!(b, reference(&[b'b'; 64]));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_kernel_is_used_when_the_cpu_has_it() {
        assert_eq!(Sha1x2::new().is_interleaved(), simd_available());
        assert!(!Sha1x2::scalar().is_interleaved());
    }

    proptest! {
        #[test]
        fn matches_the_sha1_crate(
            blocks in 0usize..300,
            cut_blocks in 1usize..64,
            seed_a: u8,
            seed_b: u8,
        ) {
            let len = blocks * 64;
            let a: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31) ^ seed_a).collect();
            let b: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed_b).collect();
            let want = (reference(&a), reference(&b));
            prop_assert_eq!(run(Sha1x2::new(), &a, &b, cut_blocks * 64), want);
            prop_assert_eq!(run(Sha1x2::scalar(), &a, &b, cut_blocks * 64), want);
        }
    }
}
