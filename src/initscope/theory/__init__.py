"""Mean-field theory of signal propagation: predictions to set beside measurements.
NumPy only; the prediction for a torch model's own weights is
:func:`initscope.diagnostics.predict`."""

from .meanfield import DepthScales as DepthScales
from .meanfield import Stability as Stability
from .meanfield import c_map as c_map
from .meanfield import c_star as c_star
from .meanfield import chi1 as chi1
from .meanfield import chi1_grid as chi1_grid
from .meanfield import chi_c as chi_c
from .meanfield import critical_line as critical_line
from .meanfield import critical_sigma_w2 as critical_sigma_w2
from .meanfield import depth_scales as depth_scales
from .meanfield import gradient_trajectory as gradient_trajectory
from .meanfield import jacobian_mean_squared_singular_value as jacobian_mean_squared_singular_value
from .meanfield import q_map as q_map
from .meanfield import q_star as q_star
from .meanfield import stable_critical_point as stable_critical_point
from .meanfield import variance_map_stability as variance_map_stability
from .meanfield import variance_trajectory as variance_trajectory

__all__ = [
    "DepthScales",
    "Stability",
    "c_map",
    "c_star",
    "chi1",
    "chi1_grid",
    "chi_c",
    "critical_line",
    "critical_sigma_w2",
    "depth_scales",
    "gradient_trajectory",
    "jacobian_mean_squared_singular_value",
    "q_map",
    "q_star",
    "stable_critical_point",
    "variance_map_stability",
    "variance_trajectory",
]

