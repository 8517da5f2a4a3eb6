//! The 256-bit example curve of GM/T 0003 (the "Fp-256" curve of its worked examples), which
//! the key-exchange example of GM/T 0003.3 uses instead of the recommended SM2 curve.
//!
//! Test-only. It is defined the way RustCrypto's `sm2` crate defines the real curve: the
//! `primefield` macros build the Montgomery field and scalar types (here on the
//! `crypto-bigint` backend) and `primeorder` supplies the point arithmetic, so the key
//! exchange's generic code runs unchanged on both curves and no point formula is written here.
//!
//! Parameters as printed in GM/T 0003.5 Annex A and quoted by Bouncy Castle's SM2 tests:
//! p, a, b, n, G below; cofactor 1 (n is close to p).

use primefield::bigint::{Odd, U256};
use primefield::consts::U32;
use primeorder::{point_arithmetic, PrimeCurveParams};
use sm2::elliptic_curve::ff::PrimeField;
use sm2::elliptic_curve::hazmat::FieldArithmetic;
use sm2::elliptic_curve::scalar::{FromUintUnchecked, IsHigh};
use sm2::elliptic_curve::subtle::{Choice, ConstantTimeGreater};
use sm2::elliptic_curve::{self, Curve, CurveArithmetic, PrimeCurveArithmetic};

const P_HEX: &str = "8542d69e4c044f18e8b92435bf6ff7de457283915c45517d722edb8b08f1dfc3";
const N_HEX: &str = "8542d69e4c044f18e8b92435bf6ff7dd297720630485628d5ae74ee7c32e79b7";

// The multiplicative generators are the smallest quadratic non-residues (2 mod p, 5 mod n),
// which is what `primefield`'s square root and its own constant checks need. Each type lives in
// its own module because the macros bring names into scope.
// `primefield`'s params macro calls a `crypto-bigint` method that its newer releases deprecate.
#[allow(deprecated)]
mod field {
    use primefield::bigint::U256;
    use sm2::elliptic_curve::ff::PrimeField;
    use sm2::elliptic_curve::ops::BatchInvert;
    use sm2::elliptic_curve::subtle::{Choice, ConstantTimeEq, CtOption};

    primefield::monty_field_params! {
        name: FieldParams,
        modulus: super::P_HEX,
        uint: U256,
        byte_order: primefield::ByteOrder::BigEndian,
        multiplicative_generator: 2,
        doc: "Montgomery parameters of the GM/T 0003 example curve's field"
    }

    primefield::monty_field_element! {
        name: FieldElement,
        params: FieldParams,
        uint: U256,
        doc: "Element of the GM/T 0003 example curve's field"
    }

    primefield::monty_field_arithmetic! {
        name: FieldElement,
        params: FieldParams,
        uint: U256
    }

    impl BatchInvert for FieldElement {}

    #[cfg(test)]
    mod tests {
        use super::{FieldElement, U256};
        primefield::test_primefield!(FieldElement, U256);
    }
}

#[allow(deprecated)]
mod scalar {
    use primefield::bigint::U256;
    use sm2::elliptic_curve::ff::PrimeField;
    use sm2::elliptic_curve::subtle::{Choice, ConstantTimeEq, CtOption};

    primefield::monty_field_params! {
        name: ScalarParams,
        modulus: super::N_HEX,
        uint: U256,
        byte_order: primefield::ByteOrder::BigEndian,
        multiplicative_generator: 5,
        doc: "Montgomery parameters of the GM/T 0003 example curve's scalars"
    }

    primefield::monty_field_element! {
        name: Scalar,
        params: ScalarParams,
        uint: U256,
        doc: "Scalar of the GM/T 0003 example curve (modulo n)"
    }

    primefield::monty_field_arithmetic! {
        name: Scalar,
        params: ScalarParams,
        uint: U256
    }

    primefield::monty_field_reduce! {
        name: Scalar,
        params: ScalarParams,
        uint: U256,
    }

    #[cfg(test)]
    mod tests {
        use super::{Scalar, U256};
        primefield::test_primefield!(Scalar, U256);
    }
}

use field::FieldElement;
use scalar::Scalar;

/// The GM/T 0003 example curve over Fp-256.
#[derive(Copy, Clone, Debug, Default, Eq, PartialEq, PartialOrd, Ord)]
pub struct ExampleCurve;

impl Curve for ExampleCurve {
    type FieldBytesSize = U32;
    type Uint = U256;
    const ORDER: Odd<U256> = Odd::<U256>::from_be_hex(N_HEX);
}

impl elliptic_curve::PrimeCurve for ExampleCurve {}

impl CurveArithmetic for ExampleCurve {
    type AffinePoint = primeorder::AffinePoint<ExampleCurve>;
    type ProjectivePoint = primeorder::ProjectivePoint<ExampleCurve>;
    type Scalar = Scalar;
}

impl FieldArithmetic for ExampleCurve {
    type FieldElement = FieldElement;
}

impl PrimeCurveArithmetic for ExampleCurve {
    type CurveGroup = primeorder::ProjectivePoint<ExampleCurve>;
}

impl PrimeCurveParams for ExampleCurve {
    // a is not -3 on this curve.
    type PointArithmetic = point_arithmetic::EquationAIsGeneric;
    type Backend = primeorder::mul_backend::VariableOnly;

    const EQUATION_A: FieldElement =
        FieldElement::from_hex_vartime("787968b4fa32c3fd2417842e73bbfeff2f3c848b6831d7e0ec65228b3937e498");
    const EQUATION_B: FieldElement =
        FieldElement::from_hex_vartime("63e4c6d3b23b0c849cf84241484bfe48f61d59a5b16ba06e6e12d1da27c5249a");
    const GENERATOR: (FieldElement, FieldElement) = (
        FieldElement::from_hex_vartime("421debd61b62eab6746434ebc3cc315e32220b3badd50bdc4c4e6c147fedd43d"),
        FieldElement::from_hex_vartime("0680512bcbb42c07d47349d2153b70c4e5d7fdfcbfa36ea1a85841b9e46e09a2"),
    );
}

elliptic_curve::scalar_impls!(ExampleCurve, Scalar);

primeorder::wnaf::impl_wnaf_size_for_scalar!(Scalar);

impl AsRef<Scalar> for Scalar {
    fn as_ref(&self) -> &Scalar {
        self
    }
}

impl FromUintUnchecked for Scalar {
    type Uint = U256;

    fn from_uint_unchecked(uint: U256) -> Self {
        Self::from_uint_unchecked(uint)
    }
}

impl IsHigh for Scalar {
    fn is_high(&self) -> Choice {
        let half_order: U256 = ExampleCurve::ORDER.as_ref().shr_vartime(1);
        self.to_canonical().ct_gt(&half_order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use primeorder::elliptic_curve::Group;

    #[test]
    fn the_generator_is_on_the_curve_and_has_order_n() {
        let g = primeorder::ProjectivePoint::<ExampleCurve>::generator();
        // n * G is the identity: multiply by n - 1 and add G once more.
        let n_minus_one = -Scalar::ONE;
        assert_eq!(
            g * n_minus_one + g,
            primeorder::ProjectivePoint::<ExampleCurve>::IDENTITY
        );
        assert_eq!(Scalar::NUM_BITS, 256);
    }
}
