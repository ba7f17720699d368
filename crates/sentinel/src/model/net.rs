//! The network: one LSTM layer over the input window, a linear head on the
//! last hidden state, trained with AdamW on mean squared error (candle, CPU).

use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::rnn::{LSTMConfig, RNN};
use candle_nn::{AdamW, LSTM, Linear, Module, Optimizer, ParamsAdamW, VarBuilder, VarMap};

use crate::error::{Result, SentinelError};
use crate::features::{N_FEATURES, Samples};

/// Shape of the network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// Bars per input window.
    pub window: usize,
    /// LSTM hidden size.
    pub hidden: usize,
}

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainSettings {
    /// Passes over the training samples.
    pub epochs: usize,
    /// Samples per step.
    pub batch_size: usize,
    /// AdamW learning rate.
    pub learning_rate: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Seed of initial weights and shuffling.
    pub seed: u64,
}

/// What training reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainReport {
    /// Mean training loss (normalised MSE) of the last epoch.
    pub final_loss: f64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Optimiser steps taken.
    pub steps: usize,
}

/// The LSTM network and its weights.
pub struct Net {
    varmap: VarMap,
    lstm: LSTM,
    head: Linear,
    shape: Shape,
}

/// SplitMix64: a small, seedable generator (candle's CPU generator cannot be seeded).
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[-k, k)`.
    fn uniform(&mut self, k: f64) -> f32 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((u * 2.0 - 1.0) * k) as f32
    }
    fn shuffle(&mut self, v: &mut [u32]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

impl Net {
    /// A network with weights drawn from `seed` (PyTorch's LSTM scheme:
    /// uniform in ±1/√hidden, biases 0).
    pub fn new(shape: Shape, seed: u64) -> Result<Net> {
        let net = Net::build(shape)?;
        let mut rng = SplitMix(seed);
        let data = net
            .varmap
            .data()
            .lock()
            .map_err(|_| SentinelError::Model("weights lock poisoned".into()))?;
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        for name in names {
            let var = &data[name];
            let dims = var.as_tensor().dims().to_vec();
            let count: usize = dims.iter().product();
            let values: Vec<f32> = if name.contains("bias") {
                vec![0.0; count]
            } else {
                let k = if name.starts_with("lstm") {
                    1.0 / (shape.hidden as f64).sqrt()
                } else {
                    1.0 / (dims[1] as f64).sqrt()
                };
                (0..count).map(|_| rng.uniform(k)).collect()
            };
            var.set(&Tensor::from_vec(values, dims.as_slice(), &Device::Cpu)?)?;
        }
        drop(data);
        Ok(net)
    }

    fn build(shape: Shape) -> Result<Net> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let lstm = candle_nn::rnn::lstm(
            N_FEATURES,
            shape.hidden,
            LSTMConfig::default(),
            vb.pp("lstm"),
        )?;
        let head = candle_nn::linear(shape.hidden, 1, vb.pp("head"))?;
        Ok(Net {
            varmap,
            lstm,
            head,
            shape,
        })
    }

    /// Loads weights saved by [`Net::save`].
    pub fn load(shape: Shape, path: &Path) -> Result<Net> {
        let mut net = Net::build(shape)?;
        net.varmap.load(path).map_err(|e| {
            SentinelError::Model(format!(
                "loading {}: {e} (was it saved with this shape {shape:?}?)",
                path.display()
            ))
        })?;
        Ok(net)
    }

    /// Saves the weights as safetensors.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.varmap
            .save(path)
            .map_err(|e| SentinelError::Model(format!("saving {}: {e}", path.display())))
    }

    /// The shape.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let states = self.lstm.seq(x)?;
        let last = states
            .last()
            .ok_or_else(|| SentinelError::Model("empty input window".into()))?;
        Ok(self.head.forward(last.h())?.squeeze(1)?)
    }

    fn input_tensor(&self, inputs: &[f32]) -> Result<Tensor> {
        let per = self.shape.window * N_FEATURES;
        if inputs.is_empty() || !inputs.len().is_multiple_of(per) {
            return Err(SentinelError::Model(format!(
                "input of {} values is not a multiple of {per}",
                inputs.len()
            )));
        }
        Ok(Tensor::from_slice(
            inputs,
            (inputs.len() / per, self.shape.window, N_FEATURES),
            &Device::Cpu,
        )?)
    }

    /// Trains on `samples`.
    pub fn train(&mut self, samples: &Samples, s: TrainSettings) -> Result<TrainReport> {
        let started = Instant::now();
        let n = samples.targets.len();
        if n == 0 {
            return Err(SentinelError::InsufficientData(
                "no training samples".into(),
            ));
        }
        let x = self.input_tensor(&samples.inputs)?;
        let y = Tensor::from_slice(&samples.targets, n, &Device::Cpu)?;
        let params = ParamsAdamW {
            lr: s.learning_rate,
            weight_decay: s.weight_decay,
            ..Default::default()
        };
        let mut opt = AdamW::new(self.varmap.all_vars(), params)?;
        let mut rng = SplitMix(s.seed ^ 0x5EED);
        let mut order: Vec<u32> = (0..n as u32).collect();
        let (mut steps, mut final_loss) = (0, f64::NAN);
        for _ in 0..s.epochs {
            rng.shuffle(&mut order);
            let (mut sum, mut count) = (0.0, 0usize);
            for chunk in order.chunks(s.batch_size.max(1)) {
                let idx = Tensor::from_slice(chunk, chunk.len(), &Device::Cpu)?;
                let xb = x.index_select(&idx, 0)?;
                let yb = y.index_select(&idx, 0)?;
                let loss = candle_nn::loss::mse(&self.forward(&xb)?, &yb)?;
                opt.backward_step(&loss)?;
                sum += loss.to_scalar::<f32>()? as f64 * chunk.len() as f64;
                count += chunk.len();
                steps += 1;
            }
            final_loss = sum / count as f64;
            if !final_loss.is_finite() {
                return Err(SentinelError::Model(format!(
                    "training diverged (loss {final_loss}); lower model.learning_rate"
                )));
            }
        }
        Ok(TrainReport {
            final_loss,
            seconds: started.elapsed().as_secs_f64(),
            steps,
        })
    }

    /// Normalised predictions for flattened input windows.
    pub fn predict(&self, inputs: &[f32]) -> Result<Vec<f64>> {
        let out = self.forward(&self.input_tensor(inputs)?)?;
        Ok(out.to_vec1::<f32>()?.into_iter().map(f64::from).collect())
    }
}
