// Layers composed by hand from core types are checked by the compiler: after a 5×5
// convolution and a 2×2 pool, a 28×28 image is 6×12×12, so `Flatten` gives 864
// features, not the 1024 this `Dense` takes.
use frechet::shape::{Chain, Image, LayerShape};
use frechet::typenum::{U1, U10, U1024, U12, U2, U24, U28, U5, U6};
use frechet::{Conv2d, Dense, Flatten, MaxPool2d};

type Features = Chain<
    Chain<Conv2d<Image<U1, U28, U28>, U6, U5>, MaxPool2d<Image<U6, U24, U24>, U2>>,
    Flatten<Image<U6, U12, U12>>,
>;
type Classifier = Chain<Features, Dense<U1024, U10>>;

fn shape_checked<L: LayerShape>() {}

fn main() {
    shape_checked::<Features>();
    shape_checked::<Classifier>();
}
