# Type stub of the package root: the Python API names are imported lazily by __init__.py (PEP 562
# __getattr__), so type checkers learn them here. Keep it in step with __init__.py's _LAZY and __all__.
from evalsite.api.classification import ClassificationEvaluator as ClassificationEvaluator
from evalsite.api.detection import DetectionEvaluator as DetectionEvaluator
from evalsite.api.functions import CheckResult as CheckResult
from evalsite.api.functions import build_site as build_site
from evalsite.api.functions import check as check
from evalsite.api.functions import compare as compare
from evalsite.api.functions import evaluate as evaluate
from evalsite.api.functions import load_report as load_report
from evalsite.core.errors import BuildError as BuildError
from evalsite.core.errors import EvalsiteError as EvalsiteError
from evalsite.core.errors import ExitCode as ExitCode
from evalsite.core.errors import InputError as InputError
from evalsite.core.errors import MaskError as MaskError
from evalsite.core.errors import Notice as Notice
from evalsite.core.errors import OutputError as OutputError
from evalsite.report.model import Report as Report

__version__: str
__all__: list[str]
