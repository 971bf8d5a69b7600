//! Which instruction set the kernels use: the widest the CPU has, or less if the
//! environment variable `FRECHET_ISA` says so.
//!
//! Every kernel that has a SIMD form asks here rather than asking the CPU itself, so
//! that one switch sends every kernel down the same path. The switch exists to measure
//! and test the narrower paths on a machine that has the wider ones: an AVX-512 machine
//! run with `FRECHET_ISA=avx2` stands in for an AVX2-only one, and `FRECHET_ISA=generic`
//! runs the portable code. The matrix products and the pools give the same bits on the
//! AVX2 and AVX-512 paths (each element summed in one order, with the same fused
//! multiply-adds); the direct convolutions tile their adjoints differently on the two and
//! agree to rounding, as does the portable code, which rounds its products apart.
//!
//! `FRECHET_ISA` can only narrow what the CPU has, never widen it, and is read once, on
//! the first question.

use std::fmt;
use std::sync::OnceLock;

/// An instruction set the kernels have a path for, from narrowest to widest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Portable Rust, whatever the compiler makes of it.
    Generic,
    /// x86-64 with AVX2 and FMA.
    Avx2,
    /// x86-64 with AVX2, FMA, and AVX-512 F and VL.
    Avx512,
}

impl Isa {
    /// The name `FRECHET_ISA` takes for this path: `generic`, `avx2` or `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Generic => "generic",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// The widest path this CPU can run, whatever the environment says.
    pub fn detected() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 =
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
            let avx512 = std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512vl");
            if avx2 && avx512 {
                return Isa::Avx512;
            }
            if avx2 {
                return Isa::Avx2;
            }
        }
        Isa::Generic
    }

    /// The path a `FRECHET_ISA` value names, or `None` for any other value.
    pub fn from_name(name: &str) -> Option<Isa> {
        [Isa::Generic, Isa::Avx2, Isa::Avx512]
            .into_iter()
            .find(|isa| isa.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The path the kernels take: [`Isa::detected`], narrowed to `FRECHET_ISA` if that
    /// is set to a narrower path. An unknown value is reported once on standard error
    /// and otherwise ignored (a typo in a benchmark's environment should be seen, not
    /// stop the program).
    pub fn current() -> Isa {
        static CURRENT: OnceLock<Isa> = OnceLock::new();
        *CURRENT.get_or_init(|| {
            let detected = Isa::detected();
            match std::env::var("FRECHET_ISA") {
                Ok(value) => match Isa::from_name(&value) {
                    Some(wanted) => wanted.min(detected),
                    None => {
                        eprintln!(
                            "frechet: FRECHET_ISA={value:?} is not one of generic, avx2, \
                             avx512; using {detected}, the widest this CPU has"
                        );
                        detected
                    }
                },
                Err(_) => detected,
            }
        })
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether the kernels may use AVX2 and FMA.
#[inline]
pub(crate) fn avx2() -> bool {
    Isa::current() >= Isa::Avx2
}

/// Whether the kernels may use AVX-512 (F and VL).
#[inline]
pub(crate) fn avx512() -> bool {
    Isa::current() >= Isa::Avx512
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for isa in [Isa::Generic, Isa::Avx2, Isa::Avx512] {
            assert_eq!(Isa::from_name(isa.name()), Some(isa));
            assert_eq!(Isa::from_name(&isa.name().to_uppercase()), Some(isa));
        }
        assert_eq!(Isa::from_name("avx"), None);
        assert_eq!(Isa::from_name(""), None);
    }

    #[test]
    fn the_current_path_is_never_wider_than_the_cpu() {
        assert!(Isa::current() <= Isa::detected());
        assert_eq!(avx512(), Isa::current() == Isa::Avx512);
        assert_eq!(avx2(), Isa::current() >= Isa::Avx2);
    }
}
