"""tf.data input pipelines: shuffling, batching, on-the-fly byte scaling and one-hot labels, prefetch.

Events are held once as tensors; each epoch shuffles only their indices and gathers whole
batches at a time, which is several times cheaper than shuffling individual (x, y) elements.
"""

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
    sample_weight: np.ndarray | None = None,
) -> tf.data.Dataset:
    """Batches of (inputs, targets), or (inputs, targets, weights) with ``sample_weight``:
    float32 inputs, (N,1) 0/1 targets for two classes, else one-hot."""
    x = tf.convert_to_tensor(np.asarray(arrays.x))
    y = tf.convert_to_tensor(np.asarray(arrays.y))
    w = None if sample_weight is None else tf.convert_to_tensor(np.asarray(sample_weight, dtype=np.float32))
    indices = tf.data.Dataset.range(len(arrays))
    if shuffle:
        indices = indices.shuffle(len(arrays), seed=seed, reshuffle_each_iteration=True)

    def batch_of(index: tf.Tensor) -> tuple[tf.Tensor, ...]:
        inputs, labels = tf.gather(x, index), tf.gather(y, index)
        if inputs.dtype == tf.uint8:
            inputs = tf.cast(inputs, tf.float32) / 255.0
        else:
            inputs = tf.cast(inputs, tf.float32)
        if n_classes == 2:
            target = tf.cast(tf.expand_dims(labels, -1), tf.float32)
        else:
            target = tf.one_hot(labels, n_classes, dtype=tf.float32)
        if w is not None:
            return inputs, target, tf.gather(w, index)
        return inputs, target

    batches = indices.batch(batch_size).map(batch_of, num_parallel_calls=tf.data.AUTOTUNE)
    return batches.prefetch(tf.data.AUTOTUNE)
