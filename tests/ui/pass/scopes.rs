//! Networks declared in a module with restricted visibility and inside a function body,
//! and two networks side by side in one scope.

mod model {
    use frechet::prelude::*;

    network! {
        pub(crate) struct Encoder {
            input: [3],
            fc: Dense(2) -> Sigmoid,
        }
    }

    network! {
        pub(crate) struct Decoder {
            input: [2],
            fc: Dense(3),
        }
    }
}

fn main() {
    use frechet::ndarray::Array2;
    use frechet::prelude::*;

    network! {
        struct Local {
            input: [2],
            out: Dense(1),
        }
    }

    let x = Array2::from_elem((5, 3), 1.0);
    let code = model::Encoder::new(0).forward(x.view());
    let y = model::Decoder::new(1).forward(code.view());
    assert_eq!(y.dim(), (5, 3));
    assert_eq!(Local::new(2).forward(code.view()).dim(), (5, 1));
}
