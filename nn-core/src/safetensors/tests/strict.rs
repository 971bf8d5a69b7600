//! The strict checks: a file must hold exactly the network's tensors, in their dtypes
//! and shapes, and the first problem in the network's order is the one reported.

use super::*;

#[test]
fn missing_tensor_is_named() {
    let mut tensors = net_tensors(0);
    tensors.retain(|(name, _)| name != "fc2.bias");
    let (error, path) = load_error(&serialize(&tensors));
    assert!(
        matches!(&error, Error::MissingTensor { name, .. } if name == "fc2.bias"),
        "{error:?}"
    );
    assert_message(&error, &path, &["fc2.bias", "missing"]);
}

#[test]
fn unexpected_tensor_is_named_in_sorted_order() {
    let mut tensors = net_tensors(0);
    tensors.push(("zeta".into(), f32_tensor(&[1], &[1.0])));
    tensors.push(("fc3.weight".into(), f32_tensor(&[1, 1], &[2.0])));
    tensors.push(("alpha".into(), f32_tensor(&[1], &[3.0])));
    // Every tensor the network has is valid, so only the extras are wrong: the
    // network must still be left untouched (`load_error` checks it).
    let (error, path) = load_error(&serialize(&tensors));
    assert!(
        matches!(&error, Error::UnexpectedTensor { name, .. } if name == "alpha"),
        "{error:?}"
    );
    assert_message(&error, &path, &["alpha", "unexpected"]);
}

#[test]
fn wrong_shape_is_reported_with_both_shapes() {
    let mut tensors = net_tensors(0);
    // fc1.weight transposed: [in, out] instead of PyTorch's [out, in].
    let weight = &mut tensors
        .iter_mut()
        .find(|(n, _)| n == "fc1.weight")
        .unwrap()
        .1;
    weight.shape = vec![3, 2];
    let (error, path) = load_error(&serialize(&tensors));
    match &error {
        Error::ShapeMismatch {
            name,
            expected,
            found,
            ..
        } => {
            assert_eq!(name, "fc1.weight");
            assert_eq!(expected, &[2, 3]);
            assert_eq!(found, &[3, 2]);
        }
        other => panic!("expected a shape mismatch, got {other:?}"),
    }
    assert_message(&error, &path, &["fc1.weight", "[3, 2]", "[2, 3]"]);
}

#[test]
fn wrong_dtype_is_reported() {
    let mut tensors = net_tensors(0);
    let bias = &mut tensors.iter_mut().find(|(n, _)| n == "fc2.bias").unwrap().1;
    bias.dtype = Dtype::F64;
    bias.data = [0.5f64, 1.5, 2.5, 3.5]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let (error, path) = load_error(&serialize(&tensors));
    assert!(
        matches!(&error, Error::DtypeMismatch { name, found, .. }
            if name == "fc2.bias" && found == "F64"),
        "{error:?}"
    );
    assert_message(&error, &path, &["fc2.bias", "F64", "F32"]);
}

#[test]
fn first_problem_in_network_order_wins() {
    // fc1.bias has the wrong shape, fc2.weight is missing, fc2.bias is F64, and
    // there is an extra tensor: the first of the network's tensors wins.
    let mut tensors = net_tensors(0);
    tensors.retain(|(name, _)| name != "fc2.weight");
    tensors.iter_mut().find(|(n, _)| n == "fc1.bias").unwrap().1 = f32_tensor(&[3], &[0.0; 3]);
    tensors.iter_mut().find(|(n, _)| n == "fc2.bias").unwrap().1 = Raw {
        dtype: Dtype::F64,
        shape: vec![4],
        data: vec![0; 32],
    };
    tensors.push(("extra".into(), f32_tensor(&[1], &[0.0])));
    let (error, _) = load_error(&serialize(&tensors));
    assert!(
        matches!(&error, Error::ShapeMismatch { name, .. } if name == "fc1.bias"),
        "{error:?}"
    );

    // Dtype is checked before shape.
    let mut tensors = net_tensors(0);
    tensors
        .iter_mut()
        .find(|(n, _)| n == "fc1.weight")
        .unwrap()
        .1 = Raw {
        dtype: Dtype::F16,
        shape: vec![5],
        data: vec![0; 10],
    };
    let (error, _) = load_error(&serialize(&tensors));
    assert!(
        matches!(&error, Error::DtypeMismatch { name, found, .. }
            if name == "fc1.weight" && found == "F16"),
        "{error:?}"
    );
}
