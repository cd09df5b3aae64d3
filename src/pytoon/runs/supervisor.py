"""The supervisor chat: a tenant looks after its production runs in plain sentences ("make a relaxing rain video
for aismr", "what is waiting for approval", "how is it doing", "reject the publish gate of <id> because …").

`chat` answers one message of a session. It works over exactly five operations (RunOperations, which
pytoon.runs.service implements), always for the calling tenant. The rule-based interpreter below understands
starting a run, listing runs (filtered), a run's status ("it" is the run the session last talked about),
deciding a gate, and help; anything else is answered with what it can do. With the service's LLM configured
(pytoon.llm_client), the model reads the session's history and acts through the same five operations as tools
(arguments validated, the tenant always the caller's, the rounds bounded); any LLM failure before it acted is
answered by the rules, after it acted by a summary of what was done, the reason given in the reply. A domain
error (an unknown project, a brief the content rules refuse, a gate the run is not waiting at, another tenant's
run) is answered, never raised. Sessions are stored per tenant (pytoon.aws.chat_sessions): a session id that is
not one of the caller's starts a fresh session under a new id, so another tenant's history is never read.
"""

from __future__ import annotations

import difflib
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pytoon.aws.chat_sessions import ChatSession, ChatSessionRepository
from pytoon.config import ConfigError, Settings, get_settings
from pytoon.content_rules import ContentRefusedError
from pytoon.errors import PytoonError, public_message
from pytoon.limits import MAX_BRIEF_CHARS, MAX_COMMENT_CHARS
from pytoon.runs.models import Gate, GateNotWaitingError, RunNotFoundError, RunStatus, UnknownProjectError

if TYPE_CHECKING:
    from pytoon.llm_client import LlmConfig

# A message longer than this is answered without being read; the API refuses far longer bodies.
MAX_MESSAGE_CHARS = 4000
# Runs named in one reply, and runs one message may act on ("approve ideation for a, b and c").
MAX_LISTED_RUNS = 20
MAX_RUNS_PER_MESSAGE = 5
BRIEF_SHOWN_CHARS = 80

Operation = Literal["start_run", "list_runs", "get_run", "approve_gate", "project_names"]


# --- what the supervisor works over ------------------------------------------------------------------------


class RunView(Protocol):
    """What the supervisor reads of a run (a RunRecord has it all)."""

    @property
    def run_id(self) -> str: ...
    @property
    def project(self) -> str: ...
    @property
    def brief(self) -> str: ...
    @property
    def status(self) -> RunStatus: ...
    @property
    def current_step(self) -> str | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def created_at(self) -> str: ...


class RunOperations(Protocol):
    """Everything the supervisor may do. Each call names the tenant; the supervisor always passes the caller's.
    Failures a user should read are PytoonErrors (RunNotFoundError for another tenant's run, as for none)."""

    def start_run(self, tenant_id: str, project: str, brief: str) -> RunView: ...

    def list_runs(self, tenant_id: str, status: RunStatus | None = None) -> Sequence[RunView]: ...

    def get_run(self, tenant_id: str, run_id: str) -> RunView: ...

    def approve_gate(self, tenant_id: str, run_id: str, gate: Gate, approved: bool, comment: str | None) -> RunView: ...

    def project_names(self) -> list[str]: ...


# --- the reply ---------------------------------------------------------------------------------------------


class RunSummary(BaseModel):
    run_id: str
    project: str
    brief: str
    status: RunStatus
    current_step: str | None = None
    error: str | None = None
    created_at: str

    @classmethod
    def of(cls, run: RunView) -> RunSummary:
        return cls(
            run_id=run.run_id,
            project=run.project,
            brief=run.brief,
            status=run.status,
            current_step=run.current_step,
            error=run.error,
            created_at=run.created_at,
        )


class ChatAction(BaseModel):
    """One operation the supervisor performed for the message: `refused` when the operation answered a domain
    error (`detail` is its message), `failed` when it broke (`detail` says so, the cause is logged)."""

    operation: Operation
    arguments: dict[str, Any]
    outcome: Literal["ok", "refused", "failed"]
    detail: str | None = None


class ChatReply(BaseModel):
    session_id: str
    reply: str
    actions: list[ChatAction]
    # Every run the message started, looked at, decided or listed (at most MAX_LISTED_RUNS listed), as they were.
    runs: list[RunSummary]
    interpreter: Literal["rules", "llm"] = "rules"
    # Why the configured LLM did not answer, when it did not.
    llm_fallback_reason: str | None = None


# --- performing operations ---------------------------------------------------------------------------------

INTERNAL_FAILURE = "it failed on the service's side (logged); try again in a moment"


@dataclass(frozen=True)
class _Outcome:
    value: Any = None
    error: Exception | None = None


@dataclass
class _Acting:
    """The operations performed for one message, always for the caller's tenant, and the runs they touched."""

    tenant_id: str
    operations: RunOperations
    actions: list[ChatAction] = field(default_factory=list)
    touched: dict[str, RunSummary] = field(default_factory=dict)
    # The last run started, looked at or decided: what "it" means in the next message.
    last_run_id: str | None = None

    def perform(self, operation: Operation, arguments: dict[str, Any]) -> _Outcome:
        try:
            value = self._call(operation, arguments)
        except PytoonError as exc:
            self.actions.append(ChatAction(**_action(operation, arguments), outcome="refused", detail=_said(exc)))
            return _Outcome(error=exc)
        except Exception as exc:
            from pytoon.observability import logger

            logger.exception("supervisor operation failed", extra={"operation": operation})
            self.actions.append(ChatAction(**_action(operation, arguments), outcome="failed", detail=INTERNAL_FAILURE))
            return _Outcome(error=exc)
        self.actions.append(ChatAction(**_action(operation, arguments), outcome="ok"))
        if operation == "list_runs":
            value = list(value)
            for run in value[:MAX_LISTED_RUNS]:
                self.touched[run.run_id] = RunSummary.of(run)
        elif operation != "project_names":
            self.touched[value.run_id] = RunSummary.of(value)
            self.last_run_id = value.run_id
        return _Outcome(value=value)

    def _call(self, operation: Operation, arguments: dict[str, Any]) -> Any:
        tenant, operations = self.tenant_id, self.operations
        if operation == "start_run":
            return operations.start_run(tenant, arguments["project"], arguments["brief"])
        if operation == "list_runs":
            status = arguments.get("status")
            return operations.list_runs(tenant, RunStatus(status) if status else None)
        if operation == "get_run":
            return operations.get_run(tenant, arguments["run_id"])
        if operation == "approve_gate":
            gate = Gate(arguments["gate"])
            return operations.approve_gate(
                tenant, arguments["run_id"], gate, arguments["approved"], arguments.get("comment")
            )
        return operations.project_names()


def _action(operation: Operation, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"operation": operation, "arguments": dict(arguments)}


def _said(exc: Exception) -> str:
    return public_message(str(exc))


def _project_names(operations: RunOperations) -> list[str]:
    """The projects, to read and write messages with (not an action: nothing is done for the user)."""
    try:
        return list(operations.project_names())
    except Exception:
        from pytoon.observability import logger

        logger.exception("supervisor could not read the project names")
        return []


# --- how runs read ------------------------------------------------------------------------------------------

STATUS_TEXT = {
    RunStatus.PENDING: "pending (its execution is starting)",
    RunStatus.RUNNING: "running",
    RunStatus.AWAITING_IDEATION_APPROVAL: "waiting for you to approve its ideas (the ideation gate)",
    RunStatus.AWAITING_VIDEO_GENERATION: "generating its clips",
    RunStatus.AWAITING_RENDER: "rendering its video",
    RunStatus.AWAITING_PUBLISH_APPROVAL: "waiting for you to approve publishing it (the publish gate)",
    RunStatus.COMPLETED: "completed",
    RunStatus.FAILED: "failed",
    RunStatus.REJECTED: "rejected",
}
_NONE_AT = {
    RunStatus.FAILED: "No run has failed.",
    RunStatus.COMPLETED: "No run has completed yet.",
    RunStatus.REJECTED: "No run was rejected.",
}
_GATE_OF_STATUS = {gate.waiting_status: gate for gate in Gate}
# Runs moving on their own, as opposed to waiting for a person or finished.
ACTIVE_STATUSES = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.AWAITING_VIDEO_GENERATION, RunStatus.AWAITING_RENDER)
WAITING_STATUSES = tuple(_GATE_OF_STATUS)


def _quoted(text: str, limit: int = BRIEF_SHOWN_CHARS) -> str:
    text = " ".join(text.split())
    return f"“{text if len(text) <= limit else text[: limit - 1] + '…'}”"


def _line(run: RunView) -> str:
    return f"{run.run_id} ({run.project}: {_quoted(run.brief)}) is {STATUS_TEXT[run.status]}"


def _described(run: RunView) -> str:
    text = f"Run {_line(run)}"
    if run.current_step and not run.status.terminal:
        text += f", at its {run.current_step} step"
    if run.error:
        text += f". Why: {run.error}"
    return text + "."


def _listed(title: str, runs: Sequence[RunView], empty: str) -> str:
    if not runs:
        return empty
    lines = [f"{title} ({len(runs)}):", *(f"- {_line(run)}" for run in runs[:MAX_LISTED_RUNS])]
    if len(runs) > MAX_LISTED_RUNS:
        lines.append(f"…and {len(runs) - MAX_LISTED_RUNS} more.")
    return "\n".join(lines)


def help_text(projects: Sequence[str]) -> str:
    named = f" (projects: {', '.join(projects)})" if projects else ""
    return (
        "I look after your production runs. You can ask me to:\n"
        f"- start one: “make a relaxing rain video for aismr”{named}\n"
        "- list them: “what is running”, “what is waiting for approval”, “what failed”, “list my runs”\n"
        "- follow one: “status of <run id>”, “how is it doing”\n"
        "- decide a gate: “approve ideation for <run id>”, “reject the publish gate of <run id> because …”"
    )


# --- the rule-based interpreter -----------------------------------------------------------------------------

_FLAGS = re.IGNORECASE | re.DOTALL
_POLITE = re.compile(
    r"^(?:(?:please|pls|kindly|hey|hi|hello|ok|okay|so|now|then|and|can you|could you|would you|will you|"
    r"i want you to|i'd like you to|i would like you to|let's|lets|go ahead and)\b[\s,]*)+",
    _FLAGS,
)
_HELP = re.compile(
    r"(?:help(?: me)?|what can you do|what do you do|what can i (?:say|ask|do)|how does this work|commands|usage|"
    r"menu|\?)",
    _FLAGS,
)
_DECIDE = re.compile(r"(?P<verb>approve|accept|reject|decline|deny|refuse)\b(?P<rest>.*)", _FLAGS)
_APPROVING = ("approve", "accept")
# Where a decision's reason starts: "… because it is too dark", "…: too dark", "…, too dark".
_REASON = re.compile(
    r"\s+(?:because|since)\s+|\s*[:;,]\s*|\s+[-–—]+\s+|\s+(?:with (?:the |a )?)?(?:comment|reason|note)\s*:?\s+",
    _FLAGS,
)
_IDEATION_WORDS = re.compile(r"\b(?:ideation|ideas?)\b", _FLAGS)
_PUBLISH_WORDS = re.compile(r"\b(?:publish\w*|publication|release)\b", _FLAGS)
# A run id: 6 to 64 letters, digits, - or _, with a digit (a run's id is 32 hex digits).
_RUN_ID = re.compile(r"(?<![\w-])(?=[\w-]*\d)[A-Za-z0-9][\w-]{5,63}(?![\w-])")
_IT = re.compile(
    r"\b(?:it|its|that|this|that one|this one|(?:the|that|this|my|my last|the last|last) (?:run|one|video))\b",
    _FLAGS,
)
# The words a decision or status question may hold besides the gate and the run: none of them names a run.
_FILLER = re.compile(
    r"\b(?:the|a|an|gate|gates|stage|step|for|of|on|in|at|run|runs|it|its|it's|that|this|one|last|my|now|too|"
    r"please|ideation|ideas?|publish\w*|publication|release|video|status|state|progress|is|how|doing|going|"
    r"what|whats|what's|about|show|check|me|update|with|and)\b|[^\w\s]",
    _FLAGS,
)
_STATUS = re.compile(
    r"\b(?:status|state|progress|how(?:'s| is| are| about)?|doing|going|where|update|check|show|look|what about|"
    r"what happened|tell me|details?|running|done|finished|failed|stuck|ready)\b",
    _FLAGS,
)
_LIST_WORDS = re.compile(
    r"\b(?:what|what's|whats|which|any|anything|list|show|how many|are there|is there|runs|everything|overview)\b",
    _FLAGS,
)
_START = re.compile(
    r"(?:make|create|start|produce|generate|render|film|begin|kick off|launch)\s+(?:me\s+|us\s+)?(?P<rest>.+)", _FLAGS
)
_RUN_PHRASE = re.compile(r"^(?:(?:a|an|the|new|another)\s+)*(?:production\s+)?run\b", _FLAGS)
_LEADING_CONNECTOR = re.compile(
    r"^(?:[\s:;,.\-–—]+|(?:about|of|on|showing|that shows|where|with(?: the)? brief|brief|called)\b)+", _FLAGS
)
_PROJECT_TRAILER = r"(?:\s+(?:project|channel|account|series))?(?![\w-])"
_PREPOSITION = r"(?:\b(?:for|in|on|with|using|under|into|to)\s+(?:the\s+|my\s+|our\s+)?|\bproject\s*:?\s*)"
# A trailing "for <something>": the project the user meant, when it is close to one's name.
_TRAILING_TARGET = re.compile(
    r"\s*\b(?:for|in|on|with|using|under|into)\s+(?:the\s+|my\s+|our\s+)?(?P<name>[\w-]+(?:\s[\w-]+)?)"
    r"(?:\s+(?:project|channel|account|series))?\s*$",
    _FLAGS,
)
_REFERS_TO_PENDING = frozenset({"it", "that", "this", "one", "that one", "this one", "the video", "that video"})
_LIST_FILTERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(?:wait\w*|await\w*|approv\w*|review\w*|gates?|decisions?|decide)\b", _FLAGS), "waiting"),
    (re.compile(r"\b(?:fail\w*|broken|errors?|went wrong)\b", _FLAGS), "failed"),
    (re.compile(r"\breject\w*\b", _FLAGS), "rejected"),
    (re.compile(r"\b(?:complete\w*|done|finished|published|ready)\b", _FLAGS), "completed"),
    (re.compile(r"\b(?:running|in progress|active|going on|underway|happening|busy|working)\b", _FLAGS), "active"),
    (re.compile(r"\b(?:runs|list|all|everything|overview|summary|recent)\b", _FLAGS), "all"),
)


def _normal_name(text: str) -> str:
    return re.sub(r"[\s-]+", "_", text.strip().lower())


def _aliases(names: Sequence[str]) -> str:
    forms = {form for name in names for form in (name, name.replace("_", " "), name.replace("_", "-"))}
    return "|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True))


@dataclass
class _Rules:
    acting: _Acting
    # The brief the session's last answer asked the project of.
    pending_brief: str | None
    # A brief this answer asks the project of.
    asked_brief: str | None = None
    _names: list[str] | None = None

    @property
    def names(self) -> list[str]:
        if self._names is None:
            self._names = _project_names(self.acting.operations)
        return self._names

    def answer(self, message: str) -> str:
        text = _POLITE.sub("", " ".join(message.split())).strip()
        bare = text.strip(" ?!.").lower()
        if not bare:
            return ("Your message is empty. " if not message.strip() else "") + help_text(self.names)
        if _HELP.fullmatch(bare):
            return help_text(self.names)
        handlers: tuple[Callable[[str], str | None], ...] = (
            self._decide,
            self._start,
            self._status,
            self._list,
            self._projects,
            self._pending_project,
        )
        for handler in handlers:
            reply = handler(text.rstrip(" ?!."))
            if reply is not None:
                return reply
        return "I did not understand that. " + help_text(self.names)

    # --- runs named in a message ---

    def _runs_named(self, text: str) -> list[str] | str:
        """The run ids `text` names (the session's last run for "it" or when it names no other run), or the
        question to ask instead."""
        ids = list(dict.fromkeys(_RUN_ID.findall(text)))[:MAX_RUNS_PER_MESSAGE]
        if ids:
            return ids
        rest = _FILLER.sub(" ", _IT.sub(" ", text)).split()
        if rest:
            return "I found no run id in that. Which run do you mean? Give me its id, e.g. “status of <run id>”."
        if self.acting.last_run_id:
            return [self.acting.last_run_id]
        return "Which run do you mean? We have not talked about one yet: give me its id, or ask “what is running”."

    # --- intents: each answers, or returns None when the message is not its kind ---

    def _decide(self, text: str) -> str | None:
        match = _DECIDE.match(text)
        if not match:
            return None
        approved = match["verb"].lower() in _APPROVING
        head, _, comment = _partition(match["rest"], _REASON)
        comment = comment.strip(" .") or None
        if comment and len(comment) > MAX_COMMENT_CHARS:
            comment = comment[: MAX_COMMENT_CHARS - 1] + "…"
        ideation, publish = bool(_IDEATION_WORDS.search(head)), bool(_PUBLISH_WORDS.search(head))
        if ideation and publish:
            return "Which gate: the ideation gate (its ideas) or the publish gate (its video)?"
        runs = self._runs_named(head)
        if isinstance(runs, str):
            return runs
        gate = Gate.IDEATION if ideation else Gate.PUBLISH if publish else None
        return "\n".join(self._decide_run(run_id, gate, approved, comment) for run_id in runs)

    def _decide_run(self, run_id: str, gate: Gate | None, approved: bool, comment: str | None) -> str:
        verb = "approve" if approved else "reject"
        if gate is None:
            found = self.acting.perform("get_run", {"run_id": run_id})
            if found.error is not None:
                return self._run_problem(run_id, found.error, f"I could not {verb} run {run_id}")
            gate = _GATE_OF_STATUS.get(found.value.status)
            if gate is None:
                return f"{_described(found.value)} It is not waiting at a gate, so there is nothing to {verb}."
        arguments = {"run_id": run_id, "gate": gate.value, "approved": approved, "comment": comment}
        decided = self.acting.perform("approve_gate", arguments)
        if decided.error is not None:
            return self._run_problem(run_id, decided.error, f"I could not {verb} the {gate.value} gate of run {run_id}")
        if approved:
            carries_on = "it goes on to make the clips" if gate is Gate.IDEATION else "it goes on to publish the video"
            return f"Approved the {gate.value} gate of run {run_id}: {carries_on}."
        reason = f" with your reason {_quoted(comment, 200)}" if comment else ""
        return f"Rejected the {gate.value} gate of run {run_id}{reason}: the run ends rejected."

    def _run_problem(self, run_id: str, error: Exception, doing: str) -> str:
        if isinstance(error, RunNotFoundError):
            return f"I found no run {run_id}. Ask “list my runs” to see yours."
        if isinstance(error, GateNotWaitingError):
            return f"{doing}: {_said(error)}."
        if isinstance(error, PytoonError):
            return f"{doing}: {_said(error)}"
        return f"{doing}: {INTERNAL_FAILURE}."

    def _start(self, text: str) -> str | None:
        match = _START.match(text)
        if not match:
            return None
        rest = re.sub(r"[\s,]*\bplease$", "", match["rest"], flags=_FLAGS).strip()
        project, brief = self._project_and_brief(rest)
        if brief.lower() in _REFERS_TO_PENDING and self.pending_brief:
            brief = self.pending_brief
        if not brief:
            example = f"make a relaxing rain video for {project or (self.names or ['aismr'])[0]}"
            return f"What should the video be about? Say for example “{example}”."
        if len(brief) > MAX_BRIEF_CHARS:
            return f"That brief is {len(brief)} characters long; a brief is at most {MAX_BRIEF_CHARS}. Shorten it."
        if project is None:
            return self._ask_project(brief)
        return self._start_run(project, brief)

    def _project_and_brief(self, rest: str) -> tuple[str | None, str]:
        """The project `rest` names (None when it names none, or several) and the brief without it."""
        aliases = _aliases(self.names)
        project = None
        if aliases:
            named_run = re.search(rf"(?<![\w-])(?P<project>{aliases})\s+(?:production\s+)?run\b", rest, _FLAGS)
            targets = list(re.finditer(rf"\s*{_PREPOSITION}(?P<project>{aliases}){_PROJECT_TRAILER}", rest, _FLAGS))
            chosen = named_run or (targets[-1] if targets else None)
            if chosen is not None:
                project = _normal_name(chosen["project"])
                replacement = "run" if chosen is named_run else ""
                rest = rest[: chosen.start()] + (" " if chosen.start() else "") + replacement + rest[chosen.end() :]
            else:
                mentioned = {
                    _normal_name(m[0]) for m in re.finditer(rf"(?<![\w-])(?:{aliases})(?![\w-])", rest, _FLAGS)
                }
                project = mentioned.pop() if len(mentioned) == 1 else None
        rest = rest.strip()
        without_run = _RUN_PHRASE.sub("", rest, count=1)
        if without_run != rest:
            rest = _LEADING_CONNECTOR.sub("", without_run)
        return project, rest.strip(" \"'“”‘’.,;:")

    def _ask_project(self, brief: str) -> str:
        self.asked_brief = brief
        projects = ", ".join(self.names) or "none are configured"
        trailing = _TRAILING_TARGET.search(brief)
        if trailing and self.names:
            close = difflib.get_close_matches(_normal_name(trailing["name"]), self.names, n=1, cutoff=0.6)
            if close:
                self.asked_brief = brief[: trailing.start()].strip() or brief
                return (
                    f"I have no project {_quoted(trailing['name'])}; did you mean {close[0]}? "
                    f"Which project is {_quoted(self.asked_brief)} for? Projects: {projects}."
                )
        return f"Which project is {_quoted(brief)} for? Projects: {projects}. Reply with its name."

    def _start_run(self, project: str, brief: str) -> str:
        started = self.acting.perform("start_run", {"project": project, "brief": brief})
        if started.error is None:
            run = started.value
            return (
                f"Started run {run.run_id} for {run.project}: {_quoted(run.brief)}. It is {STATUS_TEXT[run.status]}; "
                "its ideas will wait for your approval at the ideation gate. Ask “how is it doing?” to follow it."
            )
        if isinstance(started.error, UnknownProjectError):
            self.asked_brief = brief
            return f"I did not start it: {_said(started.error)}. Which project is it for?"
        if isinstance(started.error, ContentRefusedError):
            return f"I did not start it: {_said(started.error)}."
        if isinstance(started.error, PytoonError):
            return f"I could not start the run: {_said(started.error)}"
        return f"I could not start the run: {INTERNAL_FAILURE}."

    def _status(self, text: str) -> str | None:
        ids = _RUN_ID.findall(text)
        asks_about_it = bool(_IT.search(text) and _STATUS.search(text)) or text.lower().strip() in ("status", "state")
        if not ids and not asks_about_it:
            return None
        if not ids and text.lower().strip() in ("status", "state") and not self.acting.last_run_id:
            return None  # the list answers "status" before any run was talked about
        runs = self._runs_named(text)
        if isinstance(runs, str):
            return runs
        replies = []
        for run_id in runs:
            found = self.acting.perform("get_run", {"run_id": run_id})
            if found.error is None:
                replies.append(_described(found.value))
            else:
                replies.append(self._run_problem(run_id, found.error, f"I could not read run {run_id}"))
        return "\n".join(replies)

    def _list(self, text: str) -> str | None:
        kind = next((kind for pattern, kind in _LIST_FILTERS if pattern.search(text)), None)
        if kind is None or not (_LIST_WORDS.search(text) or text.lower().strip() in ("status", "state")):
            return None
        if kind == "waiting":
            ideation, publish = bool(_IDEATION_WORDS.search(text)), bool(_PUBLISH_WORDS.search(text))
            if ideation != publish:
                gate = Gate.IDEATION if ideation else Gate.PUBLISH
                title = f"Waiting at the {gate.value} gate"
                return self._list_one(gate.waiting_status, title, f"No runs are waiting at the {gate.value} gate.")
            return self._list_some(WAITING_STATUSES, "Waiting for your approval", "No runs are waiting for approval.")
        if kind == "active":
            return self._list_some(ACTIVE_STATUSES, "Running", "Nothing is running.")
        if kind == "all":
            listed = self.acting.perform("list_runs", {"status": None})
            if listed.error is not None:
                return self._list_problem(listed.error)
            return _listed("Your runs, newest first", listed.value, "You have no runs yet.")
        status = RunStatus(kind)
        return self._list_one(status, f"{status.value.capitalize()} runs", _NONE_AT[status])

    def _list_one(self, status: RunStatus, title: str, empty: str) -> str:
        listed = self.acting.perform("list_runs", {"status": status.value})
        if listed.error is not None:
            return self._list_problem(listed.error)
        return _listed(title, listed.value, empty)

    def _list_some(self, statuses: tuple[RunStatus, ...], title: str, empty: str) -> str:
        listed = self.acting.perform("list_runs", {"status": None})
        if listed.error is not None:
            return self._list_problem(listed.error)
        chosen = [run for run in listed.value if run.status in statuses]
        reply = _listed(title, chosen, empty)
        waiting = sum(run.status in WAITING_STATUSES for run in listed.value)
        if statuses is ACTIVE_STATUSES and waiting:
            reply += f"\n{waiting} more {'is' if waiting == 1 else 'are'} waiting for your approval."
        return reply

    def _list_problem(self, error: Exception) -> str:
        detail = _said(error) if isinstance(error, PytoonError) else INTERNAL_FAILURE
        return f"I could not list your runs: {detail}."

    def _projects(self, text: str) -> str | None:
        if not (re.search(r"\bprojects?\b", text, _FLAGS) and _LIST_WORDS.search(text)):
            return None
        listed = self.acting.perform("project_names", {})
        if listed.error is not None:
            return f"I could not list the projects: {INTERNAL_FAILURE}."
        return f"Projects: {', '.join(listed.value)}. Start a run with “make <what it is about> for <project>”."

    def _pending_project(self, text: str) -> str | None:
        """The project for the brief the last message asked it of."""
        if not self.pending_brief or not self.names:
            return None
        mentioned = {
            _normal_name(m[0]) for m in re.finditer(rf"(?<![\w-])(?:{_aliases(self.names)})(?![\w-])", text, _FLAGS)
        }
        if len(mentioned) != 1:
            return None
        return self._start_run(mentioned.pop(), self.pending_brief)


def _partition(text: str, separator: re.Pattern[str]) -> tuple[str, str, str]:
    match = separator.search(text)
    if not match:
        return text, "", ""
    return text[: match.start()], match[0], text[match.end() :]


# --- with the service's LLM ---------------------------------------------------------------------------------

LLM_SUBJECT = "LLM supervisor"
# Model requests per message (each may call tools), operations the model may perform per message, and the time
# all its requests share: the chat answers within the API's 29 s, rules fallback included.
MAX_TOOL_ROUNDS = 4
MAX_TOOL_CALLS = 8
LLM_BUDGET_SECONDS = 20.0
MAX_REPLY_CHARS = 4000
RUN_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

SYSTEM_PROMPT = """You are the supervisor of Pytoon production runs, talking with one tenant about their runs.
A run turns a brief into ideas, waits at the ideation gate for the tenant to approve them, has AI clips made,
renders the video, waits at the publish gate, then publishes it.
Act only through the tools and only as the tenant asks: start a run only when asked to make a video, and approve
or reject a gate only when the tenant says so (the reason for a rejection is its comment). Never invent run ids:
use ids the tenant gave, the conversation named or a tool returned. When the project of a new video is unclear,
ask which, naming the projects.
Projects: {projects}.
Answer briefly in plain text, naming the run ids you talk about."""


class _ToolArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _StartRunArguments(_ToolArguments):
    project: str = Field(min_length=1, max_length=64)
    brief: str = Field(min_length=1, max_length=MAX_BRIEF_CHARS)


class _ListRunsArguments(_ToolArguments):
    status: RunStatus | None = None


class _GetRunArguments(_ToolArguments):
    run_id: str = Field(pattern=RUN_ID_PATTERN)


class _ApproveGateArguments(_ToolArguments):
    run_id: str = Field(pattern=RUN_ID_PATTERN)
    gate: Gate
    approved: bool
    comment: str | None = Field(default=None, max_length=MAX_COMMENT_CHARS)


_TOOL_ARGUMENTS: dict[str, type[_ToolArguments]] = {
    "start_run": _StartRunArguments,
    "list_runs": _ListRunsArguments,
    "get_run": _GetRunArguments,
    "approve_gate": _ApproveGateArguments,
    "project_names": _ToolArguments,
}


def _tool(name: str, description: str, properties: dict[str, Any]) -> dict[str, Any]:
    parameters = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    return {
        "type": "function",
        "function": {"name": name, "description": description, "strict": True, "parameters": parameters},
    }


def tool_definitions(projects: Sequence[str]) -> list[dict[str, Any]]:
    """The five operations as OpenAI tools with strict JSON-schema parameters (no tenant: that is the caller's)."""
    run_id = {"type": "string", "description": "The run's id, as a tool returned it or the tenant gave it"}
    project: dict[str, Any] = {"type": "string", "description": "The project the run is made for"}
    if projects:
        project["enum"] = list(projects)
    statuses = [status.value for status in RunStatus]
    return [
        _tool(
            "start_run",
            "Start a production run: a video of the project about the brief. Its ideas then wait for approval.",
            {"project": project, "brief": {"type": "string", "description": "What the video is about"}},
        ),
        _tool(
            "list_runs",
            "The tenant's runs, newest first; with a status, only the runs at it (null for all).",
            {"status": {"type": ["string", "null"], "enum": [*statuses, None]}},
        ),
        _tool("get_run", "One run: its project, brief, status, current step and error.", {"run_id": run_id}),
        _tool(
            "approve_gate",
            "Approve (approved true) or reject (false) the gate a run waits at: ideation (its ideas) or publish "
            "(its video). A rejection ends the run; its comment says why.",
            {
                "run_id": run_id,
                "gate": {"type": "string", "enum": [gate.value for gate in Gate]},
                "approved": {"type": "boolean"},
                "comment": {"type": ["string", "null"], "description": "The tenant's reason, or null"},
            },
        ),
        _tool("project_names", "The projects a run can be made for.", {}),
    ]


def _invalid(exc: ValidationError) -> str:
    problems = (f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()[:3])
    return "invalid arguments: " + "; ".join(problems)


def _tool_result(acting: _Acting, call: dict[str, Any]) -> dict[str, Any]:
    """What one tool call did, as the model reads it. Only a call whose arguments validate is performed, and
    always for the caller's tenant."""
    from pytoon.llm_client import clipped

    name = call["function"]["name"]
    arguments_model = _TOOL_ARGUMENTS.get(name)
    if arguments_model is None:
        return {"error": f"there is no tool {clipped(name, 64)!r}; the tools are {', '.join(_TOOL_ARGUMENTS)}"}
    if len(acting.actions) >= MAX_TOOL_CALLS:
        return {"error": f"not done: at most {MAX_TOOL_CALLS} operations per message"}
    try:
        arguments = arguments_model.model_validate(json.loads(call["function"]["arguments"] or "{}"))
    except ValueError as exc:
        reason = _invalid(exc) if isinstance(exc, ValidationError) else "arguments are not a JSON object"
        return {"error": reason}
    outcome = acting.perform(name, arguments.model_dump(mode="json"))
    if outcome.error is not None:
        return {"error": _said(outcome.error) if isinstance(outcome.error, PytoonError) else INTERNAL_FAILURE}
    if name == "list_runs":
        runs = outcome.value
        shown = [RunSummary.of(run).model_dump(mode="json") for run in runs[:MAX_LISTED_RUNS]]
        return {"count": len(runs), "runs": shown}
    if name == "project_names":
        return {"projects": list(outcome.value)}
    return {"run": RunSummary.of(outcome.value).model_dump(mode="json")}


def _tool_calls(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The assistant message's tool calls, each checked to name a function with its arguments as a string."""
    from pytoon.llm_client import LlmAnswerError

    calls = answer.get("tool_calls") or []
    well_formed = isinstance(calls, list) and all(
        isinstance(call, dict)
        and isinstance(call.get("id"), str)
        and isinstance(call.get("function"), dict)
        and isinstance(call["function"].get("name"), str)
        and isinstance(call["function"].get("arguments", ""), str)
        for call in calls
    )
    if not well_formed:
        raise LlmAnswerError(f"{LLM_SUBJECT} tool calls are malformed")
    return calls


def _llm_reply(config: LlmConfig, message: str, session: ChatSession, acting: _Acting) -> str:
    """The model's answer to `message` after the tools it called; LlmError on any failure (`acting` then holds
    what was already done)."""
    from pytoon.llm_client import MIN_TIMEOUT_SECONDS, LlmAnswerError, LlmUnavailableError, message_of, post_chat

    projects = _project_names(acting.operations)
    system = SYSTEM_PROMPT.format(projects=", ".join(projects) or "none")
    if acting.last_run_id:
        system += f"\nThe run the conversation last talked about: {acting.last_run_id}."
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for turn in session.turns:
        messages += [{"role": "user", "content": turn.user}, {"role": "assistant", "content": turn.assistant}]
    messages.append({"role": "user", "content": message})
    tools = tool_definitions(projects)
    deadline = time.monotonic() + LLM_BUDGET_SECONDS
    for _ in range(MAX_TOOL_ROUNDS):
        remaining = deadline - time.monotonic()
        if remaining < MIN_TIMEOUT_SECONDS:
            raise LlmUnavailableError(f"{LLM_SUBJECT} ran out of its {LLM_BUDGET_SECONDS:g} s")
        round_config = config.model_copy(update={"timeout_seconds": min(config.timeout_seconds, remaining)})
        body = {"model": config.model, "messages": messages, "tools": tools, "tool_choice": "auto"}
        answer = message_of(post_chat(body, round_config, subject=LLM_SUBJECT))
        calls = _tool_calls(answer)
        if not calls:
            content = answer.get("content")
            if not isinstance(content, str) or not content.strip():
                raise LlmAnswerError(f"{LLM_SUBJECT} answer is empty")
            text = content.strip()
            return text if len(text) <= MAX_REPLY_CHARS else text[: MAX_REPLY_CHARS - 1] + "…"
        messages.append({"role": "assistant", "content": answer.get("content"), "tool_calls": calls})
        for call in calls:
            result = _tool_result(acting, call)
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)})
    raise LlmAnswerError(f"{LLM_SUBJECT} was still calling tools after {MAX_TOOL_ROUNDS} rounds")


def _what_was_done(acting: _Acting, reason: str) -> str:
    """The reply when the LLM failed after acting: what was done, from the records (the rules must not read the
    message again and repeat it)."""
    lines = [f"I could not finish answering ({reason}). What I did:"]
    for action in acting.actions:
        arguments = ", ".join(f"{name} {value!r}" for name, value in action.arguments.items() if value is not None)
        result = "done" if action.outcome == "ok" else f"{action.outcome}: {action.detail}"
        lines.append(f"- {action.operation}" + (f" ({arguments})" if arguments else "") + f": {result}")
    lines += [f"- {_line(run)}" for run in acting.touched.values()]
    return "\n".join(lines)


# --- the chat ------------------------------------------------------------------------------------------------


def chat(
    tenant_id: str,
    message: str,
    session_id: str | None,
    operations: RunOperations,
    *,
    settings: Settings | None = None,
) -> ChatReply:
    """Answer one message of the tenant's session `session_id` (a new session when None, or when the id is not
    one of this tenant's sessions: the reply's session_id is then a new one). The LLM answers when one is
    configured (read from the environment per message, like ideation), else the rules. Domain errors are
    answered; a failure to store the session (the table) is raised, as for any request."""
    from pytoon.llm_client import LlmError, clipped, llm_config

    sessions = ChatSessionRepository.from_settings(settings or get_settings())
    session = sessions.open(tenant_id, session_id)
    acting = _Acting(tenant_id, operations, last_run_id=session.last_run_id)
    interpreter: Literal["rules", "llm"] = "rules"
    fallback_reason = text = asked_brief = None
    if len(message) > MAX_MESSAGE_CHARS:
        text = f"That message is {len(message)} characters long; I read messages of up to {MAX_MESSAGE_CHARS}."
    else:
        try:
            config = llm_config()
        except ConfigError as exc:
            config, fallback_reason = None, clipped(f"{LLM_SUBJECT} not used: {exc}")
        if config is not None:
            try:
                text, interpreter = _llm_reply(config, message, session, acting), "llm"
            except LlmError as exc:
                fallback_reason = exc.reason
                if acting.actions:
                    text, interpreter = _what_was_done(acting, exc.reason), "llm"
        if text is None:
            rules = _Rules(acting, session.pending_brief)
            text = rules.answer(message)
            # A brief waits for its project one message only: the answer to the question asked about it.
            asked_brief = rules.asked_brief
    sessions.record_turn(session, message, text, last_run_id=acting.last_run_id, pending_brief=asked_brief)
    return ChatReply(
        session_id=session.session_id,
        reply=text,
        actions=acting.actions,
        runs=list(acting.touched.values()),
        interpreter=interpreter,
        llm_fallback_reason=fallback_reason,
    )
