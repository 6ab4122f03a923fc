"""tf.data input pipelines: shuffling, batching, on-the-fly byte scaling and one-hot labels, prefetch."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from hepsweep.data.arrays import Arrays


def make_dataset(
    arrays: Arrays,
    n_classes: int,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
) -> tf.data.Dataset:
    """Batches of (inputs, targets): float32 inputs, (N,1) 0/1 targets for two classes, else one-hot."""
    dataset = tf.data.Dataset.from_tensor_slices((np.asarray(arrays.x), np.asarray(arrays.y)))
    if shuffle:
        dataset = dataset.shuffle(len(arrays), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)

    def to_model_inputs(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        if x.dtype == tf.uint8:
            x = tf.cast(x, tf.float32) / 255.0
        else:
            x = tf.cast(x, tf.float32)
        if n_classes == 2:
            target = tf.cast(tf.expand_dims(y, -1), tf.float32)
        else:
            target = tf.one_hot(y, n_classes, dtype=tf.float32)
        return x, target

    return dataset.map(to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
