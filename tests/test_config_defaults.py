"""luigi.cfg and the code agree (issue 17: defaults live in too many places).

luigi.cfg is the documented set of defaults. Every section of it that names a
task or config class must name only real parameters of that class, and a
parameter's code default, where there is one, must equal what luigi.cfg sets,
so that a task built without luigi.cfg (a library call, a test elsewhere)
means the same thing as the pipeline run.
"""

import luigi
import luigi.interface  # noqa: F401 - registers luigi's [core]
import luigi.retcodes  # noqa: F401 - registers luigi's [retcode]
import luigi.scheduler  # noqa: F401 - registers luigi's [scheduler]
import luigi.worker  # noqa: F401 - registers luigi's [worker]
import pytest
from luigi.configuration import LuigiConfigParser
from luigi.parameter import _no_value
from luigi.task_register import Register

import pipeline  # noqa: F401 - registers every krotos task
from conftest import REPO

#: Sections that Luigi (or krotos) reads as raw key/value sets, with no
#: class whose parameters would name the keys.
RAW_SECTIONS = {
    "resources",  # luigi's scheduler: resource name -> amount, any names
    "task_history",  # luigi.db_task_history reads db_connection directly
    "logging",  # luigi's logging set-up (logging.config dictConfig)
    "service",  # krotos.service.config.ServiceConfig reads it directly
}


def _luigi_cfg():
    """A fresh parser of the repository's luigi.cfg (Luigi's own parser class,
    so interpolation and option names work as in a run)."""
    parser = LuigiConfigParser()
    read = parser.read([str(REPO / "luigi.cfg")])
    assert read, f"{REPO / 'luigi.cfg'} could not be read"
    return parser


def _registered():
    """{task family: class} of every registered task and config class."""
    return {family: cls for family, cls in Register._get_reg().items()
            if cls is not Register.AMBIGUOUS_CLASS}


def _is_krotos(cls):
    return cls.__module__.split(".")[0] != "luigi"


def _sections():
    parser = _luigi_cfg()
    registered = _registered()
    out = []
    for section in parser.sections():
        out.append((section, registered.get(section), parser))
    return out


def _key(option):
    # Luigi accepts dash-style option names for underscore parameters.
    return option.replace("-", "_")


def test_every_section_names_a_class_or_a_raw_luigi_section():
    unknown = [section for section, cls, _ in _sections()
               if cls is None and section not in RAW_SECTIONS]
    assert not unknown, (
        f"luigi.cfg sections naming no registered task or config class: {unknown} "
        f"(a typo, or a task that was renamed or removed)")


def _accepted_keys(cls, section):
    """Option names ``cls`` reads from ``section``: its parameters, the
    ``config_path`` aliases naming this section, and the keys a luigi config
    class declares it reads itself (``ignore_unconsumed``, e.g. [core]
    autoload_range)."""
    keys = set()
    for name, param in cls.get_params():
        keys.add(name)
        path = getattr(param, "_config_path", None)
        if path and path.get("section") == section:
            keys.add(_key(path["name"]))
    keys.update(_key(k) for k in getattr(cls, "ignore_unconsumed", ()))
    return keys


def test_every_key_names_a_parameter():
    problems = []
    for section, cls, parser in _sections():
        if cls is None:
            continue
        accepted = _accepted_keys(cls, section)
        for option in parser.options(section):
            if _key(option) not in accepted:
                problems.append(f"[{section}] {option}: {cls.__module__}.{cls.__name__} "
                                f"has no such parameter")
    assert not problems, "luigi.cfg keys that no parameter reads:\n" + "\n".join(problems)


def _canonical(param, value):
    return param.serialize(param.normalize(value))


def test_code_defaults_equal_luigi_cfg():
    mismatches = []
    checked = 0
    for section, cls, parser in _sections():
        if cls is None or not _is_krotos(cls):
            continue  # luigi's own classes keep luigi's defaults
        params = dict(cls.get_params())
        for option in parser.options(section):
            param = params.get(_key(option))
            if param is None or param._default is _no_value:
                continue  # no such parameter (see above) or no code default
            raw = parser.get(section, option)
            try:
                configured = param.parse(raw)
            except Exception as exc:  # noqa: BLE001 - reported as a mismatch
                mismatches.append(f"[{section}] {option}: luigi.cfg value {raw!r} does not "
                                  f"parse: {type(exc).__name__}: {exc}")
                continue
            checked += 1
            default = param._default
            if _canonical(param, default) != _canonical(param, configured):
                mismatches.append(f"[{section}] {option}: code default {default!r}, "
                                  f"luigi.cfg {raw!r} (parsed {configured!r})")
    assert checked > 50, f"only {checked} settings compared: is luigi.cfg read?"
    assert not mismatches, (
        "code defaults (pipeline/*.py) that disagree with luigi.cfg; luigi.cfg holds "
        "the chosen defaults, make the code say the same:\n" + "\n".join(mismatches))


@pytest.mark.parametrize("family", ["core", "scheduler", "worker", "retcode"])
def test_luigi_builtin_sections_are_checked_against_luigi(family):
    # The luigi sections of luigi.cfg are checked against luigi's own
    # config classes (test_every_key_names_a_parameter), not a hand list.
    cls = _registered().get(family)
    assert cls is not None and issubclass(cls, luigi.Config) and not _is_krotos(cls)


def _stage_params():
    """``(dataclass, luigi.cfg section)``: each stage's parameter object and the
    section whose values are its defaults."""
    from krotos.cf.params import ALSParams, PlayMatrixParams
    from krotos.coldstart.params import ColdStartParams
    from krotos.model.augment import Augmentation
    from krotos.model.params import (FinetuneParams, TagEvaluationParams, TagModelParams,
                                     TrainingParams)
    from krotos.tagdb.params import TagDatabaseParams

    return [(TagModelParams, "TrainTagModel"), (TrainingParams, "TrainTagModel"),
            (Augmentation, "TrainTagModel"), (TagEvaluationParams, "EvaluateTags"),
            (TagDatabaseParams, "TagDatabase"), (PlayMatrixParams, "PlayMatrix"),
            (ALSParams, "Factorize"), (FinetuneParams, "FinetuneModel"),
            (ColdStartParams, "EvaluateRecommendation")]


@pytest.mark.parametrize("cls, section", _stage_params(),
                         ids=lambda v: v if isinstance(v, str) else v.__name__)
def test_parameter_objects_default_to_luigi_cfg(cls, section):
    # The library's parameter objects are what a task hands over; a field
    # that luigi.cfg also sets must default to the same value, so that a
    # library call without settings means what the pipeline run means.
    import dataclasses

    parser = _luigi_cfg()
    params = dict(_registered()[section].get_params())
    compared, mismatches = 0, []
    for field in dataclasses.fields(cls):
        if field.default is dataclasses.MISSING or not parser.has_option(section, field.name):
            continue  # code-only setting, or one luigi.cfg leaves to the code
        param = params[field.name]
        configured = param.parse(parser.get(section, field.name))
        compared += 1
        if _canonical(param, field.default) != _canonical(param, configured):
            mismatches.append(f"{cls.__name__}.{field.name} = {field.default!r}, "
                              f"[{section}] {field.name} = {configured!r}")
    assert compared, f"no field of {cls.__name__} is set in [{section}]"
    assert not mismatches, "\n".join(mismatches)
