//! The training curves as an SVG: loss on the left, accuracy on the right, per epoch.

use std::path::Path;

use frechet::train::History;
use plotters::prelude::*;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Writes the training and validation loss and the validation accuracy of `history`.
pub fn curves(history: &History, path: &Path) -> Result<()> {
    let epochs = history.epochs.len() as u32;
    let series = |f: &dyn Fn(&frechet::train::Epoch) -> Option<f32>| -> Vec<(u32, f32)> {
        history
            .epochs
            .iter()
            .filter_map(|e| f(e).map(|v| (e.epoch as u32, v)))
            .collect()
    };
    let train_loss = series(&|e| Some(e.train_loss));
    let validation_loss = series(&|e| e.validation_loss);
    let accuracy = series(&|e| e.validation_accuracy);
    let max_loss = train_loss
        .iter()
        .chain(&validation_loss)
        .map(|&(_, v)| v)
        .fold(0.0f32, f32::max)
        .max(1e-3);

    let root = SVGBackend::new(path, (1000, 400)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(500);

    let mut chart = ChartBuilder::on(&left)
        .caption("loss", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0..epochs + 1, 0.0f32..max_loss * 1.05)?;
    chart.configure_mesh().x_desc("epoch").draw()?;
    chart
        .draw_series(LineSeries::new(train_loss, &BLUE))?
        .label("training")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart
        .draw_series(LineSeries::new(validation_loss, &RED))?
        .label("validation")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    chart.configure_series_labels().border_style(BLACK).draw()?;

    let low = accuracy.iter().map(|&(_, v)| v).fold(1.0f32, f32::min);
    let mut chart = ChartBuilder::on(&right)
        .caption("validation accuracy", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0..epochs + 1, (low - 0.01).max(0.0)..1.0f32)?;
    chart.configure_mesh().x_desc("epoch").draw()?;
    chart.draw_series(LineSeries::new(accuracy, &RED))?;

    root.present()?;
    Ok(())
}
