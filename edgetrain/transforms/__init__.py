"""Graph transforms between training and the backends that run kernels.

- `lower_graph` (`transforms.lowering`): the step list the int8 quantizer and the C generator both
  execute (fused clamps, aliased views).
- `fold_batch_norm` (`transforms.fold_batch_norm`): inference-mode batch_norm nodes folded into
  the conv2d / conv1d / dense layer before them, for export (`fold_for_kernels` refuses one that
  cannot be folded).
- `sort_units_by_fan_in` (`transforms.reorder`): hidden units of masked layers reordered so equal
  row lengths sit together; the function the model computes is unchanged.
"""

from .fold_batch_norm import fold_batch_norm, fold_for_kernels
from .lowering import Lowered, Step, lower_graph
from .reorder import sort_units_by_fan_in

__all__ = ["Lowered", "Step", "fold_batch_norm", "fold_for_kernels", "lower_graph", "sort_units_by_fan_in"]
