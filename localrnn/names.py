"""The package's vocabularies, in one place and free of Numba.

Every module that checks a choice (the API's ``check_choice``, the CLI's
``click.Choice``) takes its list from here, so a new rule, form or activation is
added once.  Importing this module is cheap: ``localrnn --help`` uses it.
"""
from __future__ import annotations

#: Learning rules of the rate RNN (MODEL.md sections 4-5).
RULES = ("bptt", "rtrl", "eprop", "rflo")
#: Rules that compute the exact gradient.
EXACT_RULES = ("bptt", "rtrl")
#: Local (truncated) rules; they take a feedback matrix.
LOCAL_RULES = ("eprop", "rflo")
#: Rules that run forward in time and so can learn online, per step.
ONLINE_RULES = ("eprop", "rflo", "rtrl")
#: What the local rules truncate (MODEL.md section 5): ``"recurrent"`` drops the
#: recurrent term of the Jacobian, J ~ (1 - alpha) I (e-prop as Bellec et al. 2020, RFLO;
#: the default); ``"state"`` detaches the whole previous state, J ~ 0 (the one-step
#: reading of an implementation that calls ``h.detach()`` on the hidden state).
TRUNCATIONS = ("recurrent", "state")
#: Gradients of flossing pretraining (MODEL.md section 7): the paper's local one (state
#: and Q_{t-1} held fixed), the local one with Q_{t-1} not held, the exact one.
FLOSS_MODES = ("local", "local-keep-q", "exact")
#: Feedback of the local rules' learning signal (MODEL.md section 5).
FEEDBACKS = ("symmetric", "random")
#: Dynamics forms (MODEL.md section 1).
FORMS = ("current", "rate")
#: Activation names -> integer codes of the float64 kernels (see ``activations``).
ACTIVATIONS = {"tanh": 0, "relu": 1, "softplus": 2, "retanh": 3}
#: Activations with a float32 variant in the kernels -> its code (``activations.kernel_code``).
FLOAT32_ACTIVATIONS = {"tanh": 4, "retanh": 5}
#: Losses (MODEL.md section 3).
LOSSES = ("mse", "xent")
#: Optimisers.
OPTIMIZERS = ("sgd", "adam")
#: Floating-point types of networks and kernels (``numpy.dtype(name)`` gives the type).
DTYPES = ("float64", "float32")

#: Parameters of a network, in the one order the package uses: files, kernel
#: arguments, and the kernels' per-parameter slots (learning rates, trainable flags,
#: gradient segments, weight formats), indexed by the ``P_*`` constants below.
PARAM_NAMES = ("W_in", "W", "b", "W_out", "b_out")
#: Index of each parameter in ``PARAM_NAMES`` (the kernels' slot offsets).
P_WIN, P_W, P_B, P_WOUT, P_BOUT = range(len(PARAM_NAMES))
#: The recurrent-side parameters (the ones eligibility traces and RTRL serve).
RECURRENT_PARAMS = PARAM_NAMES[:P_WOUT]
#: The readout's parameters.
READOUT_PARAMS = PARAM_NAMES[P_WOUT:]

#: A training run's kind of results folder (``localrnn run``; see ``localrnn.runs``).
TRAIN = "train"
#: Kinds of results folder (``config.json`` key ``"kind"``) -> what writes them.
RUN_KINDS = {TRAIN: "'localrnn run'", "fixedpoint-linear": "'localrnn fixedpoint linear'",
             "fixedpoint-mnist": "'localrnn fixedpoint mnist'"}
#: Key of a settings field's metadata that names the kind of value it takes
#: (``dataclasses.field(metadata={KIND: "int"})`` on every ``TrainConfig`` field); sweep
#: grids check their values by it.
KIND = "kind"
#: Kinds of a setting's value -> what a grid must give (the error messages say it).
VALUE_KINDS = {"bool": "true or false", "int": "an integer", "float": "a number",
               "float_or_table": "a number or a table of numbers", "str": "a string",
               "names": "a list of names", "table": "a table"}

#: Scales of the reproduction study (``localrnn reproduce liu2024 --scale``; their sizes are
#: ``localrnn.reproduce.liu2024.SCALES``).
STUDY_SCALES = ("default", "quick", "n128", "paper", "tiny")
#: Spiking neuron models (MODEL.md section 9): leaky integrate-and-fire, and with an
#: adaptive threshold (Bellec et al. 2020).
SPIKING_MODELS = ("lif", "alif")
#: What a spike does to the membrane voltage at the next step (MODEL.md section 9):
#: subtract the threshold (Bellec et al. 2020) or set it to ``v_reset`` (NIR's LIF).
RESETS = ("subtract", "set")
#: Learning rules of the spiking networks (MODEL.md section 9).
SPIKING_RULES = ("bptt", "eprop")
#: The neuron options a spiking network stores besides its model (MODEL.md section 9).
SPIKING_SCALAR_OPTIONS = ("reset", "dt", "tau_m", "tau_a", "tau_out", "v_th", "v_reset",
                          "refractory", "gamma")
#: The keyword arguments of ``SpikingNetwork.init`` that shape the neurons (the stored
#: options and ALIF's ``beta`` and ``n_adaptive``): what a training run's ``neuron``
#: table may set (all but ``dt``, the task's).
NEURON_OPTIONS = SPIKING_SCALAR_OPTIONS + ("beta", "n_adaptive")

__all__ = ["RULES", "EXACT_RULES", "LOCAL_RULES", "ONLINE_RULES", "TRUNCATIONS", "FLOSS_MODES",
           "FEEDBACKS", "FORMS",
           "ACTIVATIONS", "FLOAT32_ACTIVATIONS", "LOSSES", "OPTIMIZERS", "DTYPES", "PARAM_NAMES",
           "P_WIN", "P_W", "P_B", "P_WOUT", "P_BOUT", "RECURRENT_PARAMS", "READOUT_PARAMS",
           "KIND", "VALUE_KINDS", "TRAIN", "RUN_KINDS", "STUDY_SCALES", "SPIKING_MODELS", "RESETS", "SPIKING_RULES"]
