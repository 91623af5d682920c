"""`repaudit init`: the metric a script reports and which way it improves.

From the script and the repository modules it imports: ``print`` and logging calls (f-strings,
``str.format``, ``%``-formatting, several arguments, concatenation) with a metric-like name
become a regex with one group that matches the printed format; TensorBoard ``add_scalar`` tags and
literal dicts written with ``json.dump`` become the other sources. The candidates are ranked: the
test split before validation before none before training, a running best ("Max accuracy",
"... is the best so far") before a per-epoch value, a task metric before a generic loss, the
script's own prints before those of what it imports. The direction comes from the name. After a
trial run, ``observe`` keeps only what the run actually printed.
"""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from repaudit.model import Direction
from repaudit.spec.infer_code import Repository, constant_str, dotted, hydra_config

NUMBER = r"(-?[0-9.]+(?:[eE][-+]?[0-9]+)?)"
"""The one capturing group: signs, decimals and exponents (``-0.5``, ``6.58e-05``)."""
_WORD = re.compile(
    r"acc(uracy)?\d*|top\d|f1|bleu\d*|rouge\w*|auc|auroc|map|m?iou|psnr|ssim|fid|returns?|"
    r"rewards?|score|loss|nll|bpd|bpc|perplexity|ppl|error|err|mse|mae|rmse|wer|cer|elbo|cost|"
    r"dice|precision|recall|likelihood"
)
_LOWER = re.compile(r"loss|nll|bpd|bpc|perplexity|ppl|err|mse|mae|wer|cer|cost|fid|distance|regret")
_GENERIC = re.compile(r"loss|cost")  # a model's objective, not the task's metric
_SPLITS = (
    (3, re.compile(r"test|testing")),
    (2, re.compile(r"eval|evaluation|evaluate|val|valid|validation|dev")),
    (0, re.compile(r"train|training|batch|iter|iteration")),
)
_BEST = re.compile(r"best|max|maximum|min|minimum|highest|lowest")
_QUALIFIER = re.compile(r"avg|average|mean|final|episodic|total|top")
_LOGGING = re.compile(r"(^|\.)(info|debug|warning|log|write|print)$")
_DOCUMENTS = (".md", ".rst", ".markdown")
# A quoted dotted key (``'metrics.test.score'``) or a chain of two or more subscripts.
_DOTTED_KEY = re.compile(r"""['"]([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)['"]|((?:\[['"]\w+['"]\]){2,})""")


@dataclass(frozen=True)
class Metric:
    """A metric candidate and where the run reports it."""

    name: str
    """Name for the report: "test_accuracy"."""
    direction: Direction
    """From the name: losses, errors, perplexities are lower-is-better."""
    where: str
    """``file:line`` of the print (or writer call)."""
    shown: str
    """The printed format with its values elided: "Test set results: loss= … accuracy= …"."""
    regex: str | None = None
    """A regex with one group on the output, for printed metrics."""
    json: str | None = None
    """A JSON file the run writes ({out}/... when the script takes an output folder)."""
    key: str | None = None
    """The dotted key in ``json``."""
    tensorboard: str | None = None
    """A TensorBoard scalar tag holding the same series (issue 11's source)."""
    csv: str | None = None
    """A CSV file the run writes, with ``column`` (issue 11's source)."""
    column: str | None = None
    """The CSV column."""
    percent: bool = False
    """Printed as a percentage."""
    repeated: bool = False
    """Printed inside a loop (every epoch, episode or evaluation), not once at the end."""
    rank: tuple[int, ...] = ()
    """Sort key, smaller first."""
    observed: str = ""
    """After a trial run: what it printed ("12 lines, the last 0.8150"); "" = a guess."""


@dataclass(frozen=True)
class _Value:
    """One formatted value in a printed line."""

    expr: ast.expr
    spec: str


_Part = str | _Value


def find_metrics(
    repo: Repository, script: str, out_flag: bool, args: tuple[str, ...] = ()
) -> list[Metric]:
    """Every metric candidate of ``script`` (run with ``args``) and what it imports, best first."""
    closure = repo.closure(script, depth=3)
    found = _documented_json(repo, closure, out_flag) + _monitored(repo, script, closure, args)
    trees = [t for f, _ in closure if (t := repo.tree(f)) is not None]
    tables = [
        s for t in trees for n in ast.walk(t) if (s := constant_str(n)) and s.endswith(".csv")
    ]
    for depth, (name, _) in enumerate(closure):
        tree = repo.tree(name)
        if tree is None:
            continue
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        lightning = "lightning" in (repo.text(name) or "")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                found += _printed(node, name, parents, min(depth, 3))
                found += _scalar(node, name)
                found += _lightning_logged(node, name) if lightning else []
                found += _logged(node, name, parents, tables, out_flag)
        found += _json_written(tree, name, out_flag)
    tags = {m.name: m.tensorboard for m in found if m.tensorboard and not m.regex}
    found = [
        replace(m, tensorboard=tags.get(m.name) or _matching_tag(m.name, tags)) if m.regex else m
        for m in found
    ]
    return sorted(_unique(found), key=lambda m: m.rank)


def direction_of(name: str) -> Direction:
    """Lower for losses, errors, NLL, perplexity, bits per dim; higher otherwise."""
    return Direction.LOWER if _LOWER.search(name.lower()) else Direction.HIGHER


def observe(metrics: list[Metric], output: str) -> list[Metric]:
    """The candidates whose regex matched ``output`` (a trial run's stdout and stderr), with what
    they matched, best first; when none did, regexes built from the output's own metric-like lines."""
    seen = []
    for metric in metrics:
        if metric.regex is None:
            continue
        values = [m.group(1) for m in re.finditer(metric.regex, output)]
        if values:
            lines = "line" if len(values) == 1 else "lines"
            seen.append(replace(metric, observed=f"{len(values)} {lines}, the last {values[-1]}"))
    return seen or _from_output(output)


# ---------------------------------------------------------------- printed lines


def _printed(
    call: ast.Call, file: str, parents: dict[ast.AST, ast.AST], depth: int
) -> list[Metric]:
    function = dotted(call.func)
    if function == "print":
        sep = next((constant_str(k.value) for k in call.keywords if k.arg == "sep"), None)
        parts: list[_Part] = []
        for index, arg in enumerate(call.args):
            parts += ([sep if sep is not None else " "] if index else []) + _parts(arg)
    elif _LOGGING.search(function) and "log" in function.lower() and call.args:
        parts = _percent_parts(call.args[0], call.args[1:]) or _parts(call.args[0])
    else:
        return []
    parts = _merge(parts)
    context = _enclosing_function(call, parents)
    repeated = _in_loop(call, parents)
    metrics = []
    for index, part in enumerate(parts):
        if isinstance(part, _Value):
            metric = _metric_at(parts, index, context)
            if metric:
                name, split, best, generic = metric
                rank = (
                    -(3 if best and split == 1 else split),
                    -int(best),
                    int(generic),
                    depth,
                    call.lineno,
                )
                metrics.append(
                    Metric(
                        name=name,
                        direction=direction_of(name),
                        where=f"{file}:{call.lineno}",
                        shown=_shown(parts),
                        regex=_regex(parts, index),
                        percent=_percent(parts, index),
                        repeated=repeated,
                        rank=rank,
                    )
                )
    return metrics


def _parts(node: ast.expr) -> list[_Part]:
    """A printed expression as literal text and formatted values."""
    text = constant_str(node)
    if text is not None:
        return [text]
    if isinstance(node, ast.JoinedStr):
        parts: list[_Part] = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                spec = ast.unparse(value.format_spec)[2:-1] if value.format_spec else ""
                parts.append(_Value(value.value, spec))
            else:
                parts.append(constant_str(value) or "")
        return parts
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    ):
        template = _parts(node.func.value)
        if len(template) == 1 and isinstance(template[0], str):
            return _format_parts(template[0], node.args, node.keywords) or [_Value(node, "")]
        return template
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and constant_str(node.left):
        right = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
        return _percent_parts(node.left, right) or [_Value(node, "")]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _parts(node.left) + _parts(node.right)
    if isinstance(node, ast.Call) and dotted(node.func) == "str" and node.args:
        return [_Value(node.args[0], "")]
    return [_Value(node, "")]


def _format_parts(
    template: str, args: list[ast.expr], keywords: list[ast.keyword]
) -> list[_Part] | None:
    """``"acc {:.4f}".format(x)``: fields mapped to the call's arguments."""
    named = {k.arg: k.value for k in keywords if k.arg}
    parts: list[_Part] = []
    automatic = 0
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return None
    for literal, field, spec, _ in fields:
        parts.append(literal)
        if field is None:
            continue
        key = field.split(".")[0].split("[")[0]
        if key == "":
            value = args[automatic] if automatic < len(args) else None
            automatic += 1
        elif key.isdigit():
            value = args[int(key)] if int(key) < len(args) else None
        else:
            value = named.get(key)
        parts.append(_Value(value if value is not None else ast.Name(key), spec or ""))
    return parts


def _percent_parts(template_node: ast.expr, args: list[ast.expr]) -> list[_Part] | None:
    """``"acc %.4f" % x`` and ``logger.info("acc %.4f", x)``."""
    template = constant_str(template_node)
    if template is None or "%" not in template:
        return None
    parts: list[_Part] = []
    position = 0
    values = iter(args)
    for match in re.finditer(r"%(?:\(\w+\))?[-+ #0]*\d*(?:\.\d+)?([diouxXeEfFgGcrs%])", template):
        parts.append(template[position : match.start()])
        position = match.end()
        if match[1] == "%":
            parts.append("%")
            continue
        value = next(values, None)
        parts.append(_Value(value if value is not None else ast.Name("value"), match[0][1:]))
    parts.append(template[position:])
    return parts


def _merge(parts: list[_Part]) -> list[_Part]:
    """Adjacent literal texts joined, empty ones dropped."""
    merged: list[_Part] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        elif part != "":
            merged.append(part)
    return merged


def _metric_at(parts: list[_Part], index: int, context: str) -> tuple[str, int, bool, bool] | None:
    """(name, split rank, running best, generic loss) of the value at ``index``, or None when
    neither its label nor its expression names a metric."""
    label = parts[index - 1] if index and isinstance(parts[index - 1], str) else ""
    label = re.split(r"[,;|\t\n]|\s{2,}", str(label))[-1]
    after = parts[index + 1] if index + 1 < len(parts) and isinstance(parts[index + 1], str) else ""
    leading = parts[0] if isinstance(parts[0], str) else ""
    value = parts[index]
    assert isinstance(value, _Value)
    label_words = _words(label)
    expression = _expression_name(value.expr)
    metric_words = [w for w in label_words if _WORD.fullmatch(w)]
    if not metric_words:
        metric_words = [w for w in _words(expression) if _WORD.fullmatch(w)]
        if not metric_words:
            return None
        label_words = _words(expression)
    split = next(
        (
            _split(words)
            for words in (label_words, _words(leading), _words(expression), _words(context))
            if _split(words) != 1
        ),
        1,
    )
    best = any(_BEST.fullmatch(w) for w in label_words + _words(str(after))[:6])
    name = _name(label if _words(label) == label_words else expression)
    if split != 1 and _split(_words(name)) != split:
        name = f"{_split_word(split)}_{name}"
    return name, split, best, all(_GENERIC.fullmatch(w) for w in metric_words)


def _name(text: str) -> str:
    """The metric's name in ``text``: its last identifier that holds a metric word, after a
    qualifier right before it ("episodic_return", "val_loss", "max_accuracy", "avg_score")."""
    tokens = re.findall(r"[A-Za-z][A-Za-z0-9_]*", text)
    last = max(
        (i for i, t in enumerate(tokens) if any(_WORD.fullmatch(w) for w in _words(t))), default=-1
    )
    if last < 0:
        return "_".join(_words(text)[-2:])
    qualifier = tokens[last - 1] if last else ""
    qualified = all(
        _BEST.fullmatch(w) or _split([w]) != 1 or _QUALIFIER.fullmatch(w) for w in _words(qualifier)
    )
    return "_".join(
        _words(f"{qualifier} {tokens[last]}" if qualifier and qualified else tokens[last])
    )


def _words(text: str) -> list[str]:
    """Lower-case words, snake_case and camelCase split: "testAcc_top1" -> test, acc, top1."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    return [w.lower() for w in re.findall(r"[A-Za-z]+\d*", spaced.replace("_", " "))]


def _split(words: list[str]) -> int:
    for rank, pattern in _SPLITS:
        if any(pattern.fullmatch(w) for w in words):
            return rank
    return 1


def _split_word(rank: int) -> str:
    return {3: "test", 2: "eval", 0: "train"}.get(rank, "")


def _expression_name(node: ast.expr) -> str:
    """``avg_reward`` -> avg_reward; ``stats['acc1']`` -> stats acc1; ``loss.item()`` -> loss."""
    if isinstance(node, ast.Subscript):
        key = constant_str(node.slice) or ""
        return f"{_expression_name(node.value)} {key}".strip()
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Attribute):
            return _expression_name(node.func.value)
        return " ".join(_expression_name(a) for a in node.args)
    if isinstance(node, ast.BinOp):
        return _expression_name(node.left)
    return dotted(node).split(".")[-1] if dotted(node) else ""


def _shown(parts: list[_Part]) -> str:
    return "".join(p if isinstance(p, str) else "…" for p in parts).strip()


def _regex(parts: list[_Part], index: int) -> str:
    """The printed format up to the value: literal text escaped, other values as ``.*?``, then the
    value's group (brackets allowed around a value printed with no format, e.g. a numpy array),
    then a little of the literal text after it."""
    start = next((i for i, p in enumerate(parts) if isinstance(p, str)), index)
    pieces = []
    for part in parts[start:index]:
        pieces.append(_escape(part) if isinstance(part, str) else ".*?")
    value = parts[index]
    assert isinstance(value, _Value)
    bare = value.spec == "" and not _is_float(value.expr)
    group = rf"\[?{NUMBER}\]?" if bare else NUMBER
    after = parts[index + 1] if index + 1 < len(parts) and isinstance(parts[index + 1], str) else ""
    tail = re.match(r"[^\s\w]*(?:\s*[A-Za-z]+){0,3}", str(after).rstrip())
    text = "".join(pieces).lstrip()
    return text + group + (_escape(tail[0]) if tail and tail[0].strip() else "")


def _is_float(node: ast.expr) -> bool:
    """``x.item()``, ``float(x)``, ``round(x, 3)``: printed as a plain number."""
    if isinstance(node, ast.Call):
        return dotted(node.func).split(".")[-1] in ("item", "float", "round", "mean", "sum")
    return isinstance(node, ast.BinOp)


def _escape(text: str) -> str:
    # By hand rather than re.escape, which also escapes spaces and makes the written regex hard to read.
    return re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", text).replace("\n", r"\n")


def _percent(parts: list[_Part], index: int) -> bool:
    value = parts[index]
    after = parts[index + 1] if index + 1 < len(parts) else ""
    return (isinstance(value, _Value) and value.spec.endswith("%")) or str(after).startswith("%")


def _enclosing_function(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> str:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return node.name
    return ""


def _in_loop(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.For | ast.While | ast.AsyncFor):
            return True
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return False
    return False


# ---------------------------------------------------------------- writers


def _scalar(call: ast.Call, file: str) -> list[Metric]:
    """``writer.add_scalar("charts/episodic_return", ...)``: a TensorBoard tag."""
    tag = constant_str(call.args[0]) if call.args else None
    if not (dotted(call.func).endswith("add_scalar") and tag):
        return []
    return _tagged(tag, f"{file}:{call.lineno}", call.lineno)


def _tagged(
    tag: str, where: str, line: int, direction: Direction | None = None, shown: str = ""
) -> list[Metric]:
    """A TensorBoard scalar ``tag`` as a candidate when its words name a metric."""
    words = _words(tag)
    if not any(_WORD.fullmatch(w) for w in words):
        return []
    name = "_".join(words)
    rank = (-_split(words), 0, 0, 9, line)  # after any printed line: the regex source works today
    return [
        Metric(
            name, direction or direction_of(name), where, shown or tag, tensorboard=tag, rank=rank
        )
    ]


def _lightning_logged(call: ast.Call, file: str) -> list[Metric]:
    """``self.log("val_acc", acc)`` and ``self.log_dict({"test/acc": acc})`` in a LightningModule:
    TensorBoard tags, because Lightning's default logger writes every logged value there."""
    function = dotted(call.func)
    if function not in ("self.log", "self.log_dict") or not call.args:
        return []
    keys = call.args[0].keys if isinstance(call.args[0], ast.Dict) else [call.args[0]]
    where = f"{file}:{call.lineno}"
    return [m for k in keys if (tag := constant_str(k)) for m in _tagged(tag, where, call.lineno)]


def _logged(
    call: ast.Call, file: str, parents: dict[ast.AST, ast.AST], tables: list[str], out_flag: bool
) -> list[Metric]:
    """``log("episode_reward", value)`` inside ``with logger.log_and_dump_ctx(..., ty="eval") as log``:
    a metric a logger writes as a CSV column (the CSV file named for the same split)."""
    key = constant_str(call.args[0]) if len(call.args) == 2 else None
    if key is None or not any(_WORD.fullmatch(w) for w in _words(key)) or "." in key:
        return []
    context = _with_context(call, parents)
    if context is None:
        return []
    split = next(
        (
            r
            for r in (_split(_words(context)), _split(_words(_enclosing_function(call, parents))))
            if r != 1
        ),
        1,
    )
    table = next((t for t in tables if _split(_words(t)) == split), None)
    if table is None:
        return []
    where = "{out}/" if out_flag else ""
    name = f"{_split_word(split)}_{key}".strip("_")
    rank = (-split, 0, 0, 8, call.lineno)
    return [
        Metric(
            name,
            direction_of(name),
            f"{file}:{call.lineno}",
            f"{table} column {key}",
            csv=f"{where}{table.rsplit('/', 1)[-1]}",
            column=key,
            rank=rank,
        )
    ]


def _with_context(call: ast.Call, parents: dict[ast.AST, ast.AST]) -> str | None:
    """The source text of the ``with`` call that bound the function ``call`` calls, if any."""
    function = call.func.id if isinstance(call.func, ast.Name) else None
    node: ast.AST = call
    while function and node in parents:
        node = parents[node]
        if isinstance(node, ast.With):
            for item in node.items:
                bound = item.optional_vars
                if isinstance(bound, ast.Name) and bound.id == function:
                    return ast.unparse(item.context_expr)
    return None


def _matching_tag(name: str, tags: Mapping[str, str | None]) -> str | None:
    """The TensorBoard tag of the same quantity as a printed metric, by name."""
    words = {w for w in _words(name) if _WORD.fullmatch(w)}
    split = _split(_words(name))
    return next(
        (
            t
            for n, t in tags.items()
            if words and words <= set(_words(n)) and _split(_words(n)) == split
        ),
        None,
    )


def _json_written(tree: ast.Module, file: str, out_flag: bool) -> list[Metric]:
    """Metric-like leaves of a literal dict passed to ``json.dump``, with the ``.json`` name the file
    uses; in the run's output folder when the script takes one."""
    leaves: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and dotted(node.func) in ("json.dump", "json.dumps")
            and node.args
        ):
            leaves += [(leaf, node.lineno) for leaf in _leaves(node.args[0], "")]
    names = [s for n in ast.walk(tree) if (s := constant_str(n)) and s.endswith(".json")]
    if not names:
        return []
    path = next((n for n in names if re.search("metric|result|stat|score", n)), names[0])
    path = f"{{out}}/{path.rsplit('/', 1)[-1]}" if out_flag else path
    metrics = []
    for key, line in leaves:
        words = _words(key)
        if any(_WORD.fullmatch(w) for w in words):
            name = key.replace(".", "_")
            rank = (-4 if out_flag else -_split(words), 0, 0, 0, line)
            metrics.append(
                Metric(
                    name,
                    direction_of(name),
                    f"{file}:{line}",
                    f"{path} {key}",
                    json=path,
                    key=key,
                    rank=rank,
                )
            )
    return sorted(metrics, key=lambda m: (-_split(_words(m.key or "")), m.rank))


def _documented_json(
    repo: Repository, closure: list[tuple[str, int]], out_flag: bool
) -> list[Metric]:
    """A dotted key of a JSON file the run writes, read back in a document that names that file:
    how the authors compute the paper's table from the runs (``df['metrics.test.score']`` after
    loading ``output/*/stats.json``). The run must write both the file's name and the key's first
    part (``stats['metrics'] = ...``). Ranked before everything the code alone suggests."""
    literals = {
        s for f, _ in closure if (t := repo.tree(f)) for n in ast.walk(t) if (s := constant_str(n))
    }
    written = {PurePosixPath(s).name: s for s in sorted(literals) if s.endswith(".json")}
    found = []
    for doc in (f for f in repo.files if f.endswith(_DOCUMENTS)):
        text = repo.text(doc) or ""
        named = [n for n in re.findall(r"[\w.-]+\.json\b", text) if n in written]
        for number, line in enumerate(text.splitlines(), start=1):
            for match in _DOTTED_KEY.finditer(line) if named else ():
                key = match[1] or ".".join(re.findall(r"\w+", match[2]))
                parts = key.split(".")
                if parts[0] not in literals or not any(
                    _WORD.fullmatch(w) for w in _words(parts[-1])
                ):
                    continue
                path = f"{{out}}/{named[0]}" if out_flag else written[named[0]]
                name = _name(" ".join(parts))
                split = _split(_words(key))
                metric = Metric(
                    name,
                    direction_of(name),
                    f"{doc}:{number}",
                    f"{path} {key} (read back at {doc}:{number})",
                    json=path,
                    key=key,
                    rank=(-5, -split, 0, 0, number),
                )
                found.append(metric)
    return found


def _monitored(
    repo: Repository, script: str, closure: list[tuple[str, int]], args: tuple[str, ...]
) -> list[Metric]:
    """The metric the authors select checkpoints on (``monitor: val/accuracy`` with ``mode: max``,
    from the Hydra configs the command loads or a ``ModelCheckpoint(monitor=...)``), read as the
    TensorBoard tag a LightningModule logs under a name built at run time (``f"{prefix}/{k}"``);
    its test-split counterpart when the module has a test step."""
    texts = {f: repo.text(f) or "" for f, _ in closure}
    if not any("lightning" in t for t in texts.values()):
        return []
    monitor = _hydra_monitor(repo, script, args) or _code_monitor(repo, closure)
    if monitor is None:
        return []
    tag, mode, where = monitor
    templates = [
        (f, n.lineno, _template(n))
        for f, _ in closure
        if (t := repo.tree(f))
        for n in ast.walk(t)
        if isinstance(n, ast.JoinedStr) and any(isinstance(v, ast.FormattedValue) for v in n.values)
    ]
    logged = next(((f, line) for f, line, t in templates if re.fullmatch(t, tag)), None)
    if logged is None:
        return []
    if re.search(r"def (test_step|on_test_epoch_end)\b", "".join(texts.values())):
        tag = re.sub(
            r"(?<![A-Za-z])(val|valid|validation|dev|eval)(?![A-Za-z])", "test", tag, count=1
        )
    direction = {"max": Direction.HIGHER, "min": Direction.LOWER}.get(mode)
    shown = f"{tag} (monitored: {where}; logged at {logged[0]}:{logged[1]})"
    return _tagged(tag, where, logged[1], direction, shown)


def _template(node: ast.JoinedStr) -> str:
    """A regex for the strings an f-string makes: literal text kept, each value one or more
    characters."""
    return "".join(
        ".+?" if isinstance(v, ast.FormattedValue) else re.escape(constant_str(v) or "")
        for v in node.values
    )


def _code_monitor(repo: Repository, closure: list[tuple[str, int]]) -> tuple[str, str, str] | None:
    """``ModelCheckpoint(monitor="val_acc", mode="max")``: (tag, mode, where)."""
    for name, _ in closure:
        for node in ast.walk(repo.tree(name) or ast.Module([], [])):
            if isinstance(node, ast.Call):
                keywords = {k.arg: constant_str(k.value) for k in node.keywords}
                if keywords.get("monitor"):
                    where = f"{name}:{node.lineno}"
                    return str(keywords["monitor"]), keywords.get("mode") or "", where
    return None


def _hydra_monitor(
    repo: Repository, script: str, args: tuple[str, ...]
) -> tuple[str, str, str] | None:
    """The last ``monitor`` key (with its sibling ``mode``) of the Hydra configs the command
    composes, in Hydra's merge order; ``group=option`` arguments replace a group's default."""
    tree = repo.tree(script)
    primary = hydra_config(repo, tree, script) if tree else None
    if not primary:
        return None
    root = PurePosixPath(primary).parent
    chosen = {
        group: option
        for arg in args
        if (m := re.fullmatch(r"([\w/]+)=([\w/.-]+)", arg))
        and repo.is_file(f"{root / m[1] / m[2]}.yaml")
        for group, option in [(m[1], m[2])]
    }
    found: list[tuple[str, str, str]] = []
    _compose(repo, root, primary, chosen, found, set())
    return found[-1] if found else None


def _compose(
    repo: Repository,
    root: PurePosixPath,
    config: str,
    chosen: dict[str, str],
    found: list[tuple[str, str, str]],
    seen: set[str],
) -> None:
    """Walk a config's defaults list depth first, its own keys at ``_self_`` (last when absent),
    appending every ``monitor`` it sets. A small line reader, because only the defaults list and
    two keys are needed and a YAML library is not a dependency; ``override`` entries are read as
    more defaults (the group they replace is read too, which only matters when both set
    ``monitor``)."""
    if config in seen or not repo.is_file(config):
        return
    seen.add(config)
    text = repo.text(config) or ""
    here = PurePosixPath(config).parent
    entries = _defaults(text)
    if "_self_" not in [option for _, option in entries]:
        entries.append(("", "_self_"))
    for group, option in entries:
        if option == "_self_":
            found += _monitor_keys(text, config)
            continue
        name = group.lstrip("/")
        option = chosen.get(name, option)
        base = root if group.startswith("/") or here == root else here
        _compose(repo, root, f"{base / name / option}.yaml", chosen, found, seen)


def _defaults(text: str) -> list[tuple[str, str]]:
    """(group, option) of a YAML config's ``defaults:`` list, in order; group "" for a config of
    the same folder (``- cifar``) and for ``_self_``; a list-valued group gives one entry each."""
    entries: list[tuple[str, str]] = []
    inside, group, group_indent = False, "", -1
    for raw in text.splitlines():
        line = raw.split(" #")[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace() and not line.startswith("-"):
            inside = line.startswith("defaults:")
            continue
        item = re.match(r"(\s*)-\s*(?:override\s+|optional\s+)?([^:]+?)\s*(?::\s*(.*))?$", line)
        if not inside or item is None:
            continue
        indent, key, value = len(item[1]), item[2].strip(), (item[3] or "").strip()
        if group and indent > group_indent and item[3] is None:
            entries.append((group, key))
            continue
        group = ""
        if item[3] is None:
            entries.append(("", key))
        elif value and value != "null":
            entries.append((key, value))
        elif not value:
            group, group_indent = key, indent
    return entries


def _monitor_keys(text: str, config: str) -> list[tuple[str, str, str]]:
    """(tag, mode, "file:line") of each ``monitor:`` key with a value (not ``???``, not an
    interpolation), with the ``mode`` key of the same mapping."""
    found = []
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        match = re.match(r"^(\s*)monitor:\s*['\"]?([^'\"\s#]+)", line)
        if not match or match[2].startswith(("$", "?", "null")):
            continue
        indent = len(match[1])
        mode = ""
        for direction in (range(number, len(lines)), range(number - 2, -1, -1)):
            for index in direction:
                other = lines[index]
                depth = len(other) - len(other.lstrip())
                if other.strip() and not other.lstrip().startswith("#") and depth < indent:
                    break
                sibling = re.match(rf"^\s{{{indent}}}mode:\s*['\"]?(\w+)", other)
                mode = mode or (sibling[1] if sibling else "")
        found.append((match[2], mode, f"{config}:{number}"))
    return found


def _leaves(node: ast.expr, prefix: str) -> list[str]:
    if not isinstance(node, ast.Dict):
        return [prefix] if prefix else []
    leaves = []
    for key, value in zip(node.keys, node.values, strict=True):
        text = constant_str(key)
        if text is not None and value is not None:
            leaves += _leaves(value, f"{prefix}.{text}" if prefix else text)
    return leaves


def _unique(metrics: list[Metric]) -> list[Metric]:
    seen: dict[tuple[str | None, ...], Metric] = {}
    for metric in metrics:
        keys = (
            metric.regex,
            metric.json,
            metric.key or metric.tensorboard,
            metric.csv,
            metric.column,
        )
        seen.setdefault(keys, metric)
    return list(seen.values())


# ---------------------------------------------------------------- observed output


def _from_output(output: str) -> list[Metric]:
    """Regexes built from the output's own lines: ``<metric word><up to 3 symbols><number>``."""
    found: dict[str, Metric] = {}
    pattern = re.compile(r"([A-Za-z][\w /-]{0,40}?)([:=]\s*|\s+)(\[?)" + NUMBER)
    for line in output.splitlines():
        for match in pattern.finditer(line):
            words = _words(match[1])
            metric_words = [w for w in words if _WORD.fullmatch(w)]
            if not metric_words:
                continue
            label = line[match.start(1) : match.start(3)].lstrip().split("  ")[-1]
            regex = _escape(label) + (r"\[?" + NUMBER + r"\]?" if match[3] else NUMBER)
            split = _split(words)
            best = any(_BEST.fullmatch(w) for w in words)
            name = "_".join(words[-3:])
            rank = (
                -(3 if best and split == 1 else split),
                -int(best),
                int(all(_GENERIC.fullmatch(w) for w in metric_words)),
                0,
                0,
            )
            found.setdefault(
                regex,
                Metric(
                    name,
                    direction_of(name),
                    "the trial's output",
                    line.strip()[:80],
                    regex=regex,
                    rank=rank,
                ),
            )
    counted = []
    for metric in sorted(found.values(), key=lambda m: m.rank):
        assert metric.regex is not None
        values = [m.group(1) for m in re.finditer(metric.regex, output)]
        if values:
            counted.append(replace(metric, observed=f"{len(values)} lines, the last {values[-1]}"))
    return counted
