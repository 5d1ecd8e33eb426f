"""The JSON Schema (draft 2020-12) of ``sa3p run --json`` lines, printed by ``sa3p schema``.

Every line validates against it (tests/host/test_json_contract.py validates real runs). The
enumerations come from the engine's enums (``OutputCode``, ``EditTier``, ``PatchAction``,
``DenialCause``), so a new code is in the schema the day it exists; the per-command fields are
written here, and a test keeps them in step with the output classes' fields.
"""

from __future__ import annotations

from typing import Any

from sa3p_engine import DenialCause, EditTier, OutputCode, PatchAction
from sa3p_host._cli_output import JSON_VERSION

__all__ = ["COMMAND_FIELDS", "run_json_schema"]

_STR: dict[str, Any] = {"type": "string"}
_INT: dict[str, Any] = {"type": "integer"}
_BOOL: dict[str, Any] = {"type": "boolean"}
_NUMBER: dict[str, Any] = {"type": "number"}
_SHA256: dict[str, Any] = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_PLACE: dict[str, Any] = {"type": ["integer", "null"], "minimum": 1}


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _pair(second: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "prefixItems": [_INT, second], "minItems": 2, "maxItems": 2}


_EDIT_REPORT: dict[str, Any] = {
    "type": "object",
    "required": ["index", "tier", "similarity", "start_line", "end_line", "ranges"],
    "properties": {
        "index": _INT,
        "tier": {"enum": [tier.value for tier in EditTier]},
        "similarity": _NUMBER,
        "start_line": _INT,
        "end_line": _INT,
        "ranges": _array(_pair(_INT)),
    },
}

COMMAND_FIELDS: dict[str, dict[str, dict[str, Any]]] = {
    "write_file": {
        "path": _STR,
        "bytes_written": _INT,
        "sha256": _SHA256,
        "created": _BOOL,
    },
    "read_file": {
        "path": _STR,
        "requested": _pair({"type": ["integer", "null"]}),
        "served": _pair(_INT),
        "total_lines": _INT,
        "size": _INT,
        "sha256": _SHA256,
        "content": _STR,
        "binary": _BOOL,
        "warnings": _array(_STR),
        "next_start_line": {"type": ["integer", "null"]},
    },
    "list_files": {
        "path": _STR,
        "listing": _STR,
        "total_files": _INT,
        "collapsed_directories": _INT,
    },
    "terminal": {
        "pid": _INT,
        "exit_code": {"type": ["integer", "null"]},
        "duration": _NUMBER,
        "output": _STR,
        "total_bytes": _INT,
        "omitted_bytes": _INT,
        "polled": _BOOL,
        "timeout": _NUMBER,
    },
    "terminal_signal": {
        "pid": _INT,
        "signal": _STR,
        "exited": _BOOL,
        "exit_code": {"type": ["integer", "null"]},
    },
    "apply_edit": {
        "path": _STR,
        "edits": _array(_EDIT_REPORT),
        "sha256": _SHA256,
        "diff": _STR,
    },
    "apply_patch": {
        "files": _array(
            {
                "type": "object",
                "required": ["path", "action", "moved_from", "sha256", "chunks"],
                "properties": {
                    "path": _STR,
                    "action": {"enum": [action.value for action in PatchAction]},
                    "moved_from": {"type": ["string", "null"]},
                    "sha256": {"anyOf": [_SHA256, {"const": ""}]},
                    "chunks": _array(_EDIT_REPORT),
                },
            }
        ),
        "diff": _STR,
    },
}
"""Each command's own fields in an ``ok`` result that is not cut to a ``summary`` by the
output budget; they are all present."""

_DENIAL_FIELDS: dict[str, dict[str, Any]] = {
    "cause": {"enum": [cause.value for cause in DenialCause]},
    "rule_index": {"type": ["integer", "null"]},
    "rule": _STR,
    "reason": _STR,
}


def _fields_when(condition: dict[str, Any], fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"if": condition, "then": {"required": sorted(fields), "properties": fields}}


def _result() -> dict[str, Any]:
    per_command = [
        _fields_when(
            {
                "properties": {"command": {"const": name}, "status": {"const": "ok"}},
                "not": {"required": ["summary"]},
            },
            fields,
        )
        for name, fields in COMMAND_FIELDS.items()
    ]
    return {
        "type": "object",
        "required": ["v", "type", "command", "status", "ok", "subject", "rendered"],
        "properties": {
            "v": {"const": JSON_VERSION},
            "type": {"const": "result"},
            "command": _STR,
            "status": {"enum": ["ok", "failed", "denied", "quoted"]},
            "ok": _BOOL,
            "subject": _STR,
            "code": {"$ref": "#/$defs/code"},
            "error": _STR,
            "line": _PLACE,
            "column": _PLACE,
            "summary": _STR,
            "rendered": _STR,
        },
        "allOf": [
            {
                "if": {"properties": {"status": {"const": "ok"}}},
                "then": {"properties": {"ok": {"const": True}, "code": False, "error": False}},
                "else": {
                    "required": ["code", "error", "line", "column"],
                    "properties": {"ok": {"const": False}},
                },
            },
            _fields_when({"properties": {"status": {"const": "denied"}}}, _DENIAL_FIELDS),
            {
                "if": {"properties": {"status": {"const": "quoted"}}},
                "then": {"properties": {"code": {"const": OutputCode.QUOTED.value}}},
            },
            *per_command,
        ],
    }


def run_json_schema() -> dict[str, Any]:
    """The schema every line of ``sa3p run --json`` validates against."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:sa3p:run-json:{JSON_VERSION}",
        "title": "A line of `sa3p run --json`",
        "description": "One object per line: results and notices as the stream is read, live "
        "output while a command runs, the state header last (docs/COMMANDS.md).",
        "oneOf": [{"$ref": f"#/$defs/{kind}"} for kind in ("result", "notice", "output", "state")],
        "$defs": {
            "code": {"enum": [code.value for code in OutputCode]},
            "result": _result(),
            "notice": {
                "type": "object",
                "required": ["v", "type", "command", "code", "error", "line", "column"],
                "properties": {
                    "v": {"const": JSON_VERSION},
                    "type": {"const": "notice"},
                    "command": _STR,
                    "code": {"$ref": "#/$defs/code"},
                    "error": _STR,
                    "line": _PLACE,
                    "column": _PLACE,
                    "rendered": _STR,
                },
            },
            "output": {
                "type": "object",
                "required": ["v", "type", "subject", "text"],
                "properties": {
                    "v": {"const": JSON_VERSION},
                    "type": {"const": "output"},
                    "subject": _STR,
                    "text": _STR,
                },
            },
            "state": {
                "type": "object",
                "required": ["v", "type", "cwd", "recent_hashes", "active_pids"],
                "properties": {
                    "v": {"const": JSON_VERSION},
                    "type": {"const": "state"},
                    "cwd": _STR,
                    "recent_hashes": _array(
                        {
                            "type": "object",
                            "required": ["path", "sha256"],
                            "properties": {"path": _STR, "sha256": _SHA256},
                        }
                    ),
                    "active_pids": _array(_INT),
                    "rendered": _STR,
                },
            },
        },
    }
