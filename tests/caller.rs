//! A batch of the wrong shape panics at the caller's line, not at the `network!`
//! declaration's: the generated methods track their caller.

use std::panic::{self, Location};
use std::sync::Mutex;

use frechet::ndarray::Array2;
use frechet::prelude::*;

network! {
    struct Net {
        input: [8],
        fc: Dense(2),
    }
}

/// Where the last panic happened, as its hook saw it.
static LOCATION: Mutex<Option<(String, u32)>> = Mutex::new(None);

/// The file and line `f` panicked at.
fn panic_location(f: impl FnOnce()) -> (String, u32) {
    panic::set_hook(Box::new(|info| {
        let location = info.location().expect("a location");
        *LOCATION.lock().unwrap() = Some((location.file().to_string(), location.line()));
    }));
    let panicked = panic::catch_unwind(panic::AssertUnwindSafe(f)).is_err();
    let _ = panic::take_hook();
    assert!(panicked, "it should have panicked");
    LOCATION.lock().unwrap().take().expect("the hook ran")
}

#[test]
fn a_wrong_batch_panics_at_the_call() {
    let (x, labels) = (Array2::<f32>::zeros((3, 7)), [0, 1, 0]);
    let (mut net, mut sgd, loss) = (Net::new(0), Sgd::new(0.1), SoftmaxCrossEntropy);
    let here = Location::caller().file();
    // Each call on one line, two lines above its check.
    let (file, line) = panic_location(|| {
        net.forward(x.view());
    });
    assert_eq!((file.as_str(), line), (here, line!() - 2));
    let (file, line) = panic_location(|| {
        net.train_step(x.view(), &labels[..], &loss, &mut sgd);
    });
    assert_eq!((file.as_str(), line), (here, line!() - 2));
    let (file, line) = panic_location(|| {
        net.loss_and_grads(x.view(), &labels[..], &loss);
    });
    assert_eq!((file.as_str(), line), (here, line!() - 2));
}
