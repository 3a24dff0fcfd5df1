"""The web chat API's OpenAPI 3.1 document, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from adapters.edge import INT64_MAX

_ERROR = {"$ref": "#/components/schemas/Error"}
_LIMITED = {
    "type": "object",
    "required": ["error", "retry_after"],
    "properties": {"error": {"type": "string"}, "retry_after": {"type": "integer"}},
}


def _response(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"description": description}
    if schema is not None:
        body["content"] = {"application/json": {"schema": schema}}
    return body


def _conversation_id() -> dict[str, Any]:
    return {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def document(max_chars: int) -> dict[str, Any]:
    limited = {
        "429": {
            **_response("Too many requests from this address, or messages in this conversation (answered after a short delay)", _LIMITED),
            "headers": {"Retry-After": {"description": "Seconds until the limit lets the next request through", "schema": {"type": "integer"}}},
        }
    }
    errors = {
        "401": _response("Missing or wrong bearer token", _ERROR),
        "404": _response("No such conversation", _ERROR),
        **limited,
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "supportbot web chat API",
            "version": "1",
            "description": (
                "Open a conversation, send the customer's messages and button presses, read the replies. "
                "The bundled chat page uses exactly this API. Malformed bodies and frames (not JSON or UTF-8, lone "
                "surrogates, nesting deeper than 64 levels, numbers outside 64-bit integers) get a 4xx naming the problem. "
                "Live updates: GET /api/conversations/{id}/ws?token=... "
                "(a websocket; send {\"type\": \"resume\", \"after\": seq}, {\"type\": \"message\", \"text\": ...} or "
                "{\"type\": \"action\", \"action\": {\"id\": ..., \"value\": ...}}; receive {\"type\": \"message\", "
                "\"message\": Message} and {\"type\": \"error\", \"error\": ...}, with \"retry_after\" when over a rate "
                "limit; the socket stays open)."
            ),
        },
        "components": {
            "securitySchemes": {"conversationToken": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                "Button": {
                    "type": "object",
                    "required": ["id", "label", "value"],
                    "properties": {"id": {"type": "string"}, "label": {"type": "string"}, "value": {"type": "string"}},
                },
                "Message": {
                    "type": "object",
                    "required": ["seq", "from", "text", "buttons", "at"],
                    "properties": {
                        "seq": {"type": "integer", "description": "Position in the conversation, from 1"},
                        "from": {"type": "string", "enum": ["customer", "bot", "agent"]},
                        "name": {"type": "string", "description": "The agent's display name, when from an agent"},
                        "text": {"type": "string"},
                        "buttons": {"type": "array", "items": {"$ref": "#/components/schemas/Button"}},
                        "at": {"type": "string", "format": "date-time"},
                    },
                },
                "Inbound": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["text"],
                            "properties": {"text": {"type": "string", "maxLength": max_chars}},
                        },
                        {
                            "type": "object",
                            "required": ["action"],
                            "properties": {
                                "action": {
                                    "type": "object",
                                    "required": ["id"],
                                    "properties": {"id": {"type": "string"}, "value": {"type": "string"}},
                                }
                            },
                        },
                    ]
                },
            },
        },
        "paths": {
            "/api/conversations": {
                "post": {
                    "summary": "Open a conversation",
                    "requestBody": {
                        "required": False,
                        "content": {"application/json": {"schema": {"type": "object", "properties": {"name": {"type": "string"}}}}},
                    },
                    "responses": {
                        "201": _response(
                            "Opened; keep the token, it opens this conversation only",
                            {
                                "type": "object",
                                "required": ["id", "token"],
                                "properties": {"id": {"type": "string"}, "token": {"type": "string"}},
                            },
                        ),
                        "400": _response("Malformed body", _ERROR),
                        "413": _response("Body over 1 MiB", _ERROR),
                        **limited,
                    },
                }
            },
            "/api/conversations/{id}/messages": {
                "parameters": [_conversation_id()],
                "post": {
                    "summary": "Send a message or press a button",
                    "security": [{"conversationToken": []}],
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": (
                                "A new value per message (e.g. a random UUID), the same on every retry of it: a POST whose key "
                                "this conversation has already handled (within a day) does nothing and answers 202 again."
                            ),
                            "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]+$"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Inbound"}}},
                    },
                    "responses": {
                        "202": _response(
                            "Accepted and handled: the replies are readable now",
                            {"type": "object", "properties": {"status": {"type": "string", "enum": ["accepted", "ignored"]}}},
                        ),
                        "400": _response("Malformed body or Idempotency-Key", _ERROR),
                        "413": _response(f"Text longer than {max_chars} characters, or a body over 1 MiB; nothing was stored", _ERROR),
                        **errors,
                    },
                },
                "get": {
                    "summary": "Read the conversation's messages",
                    "security": [{"conversationToken": []}],
                    "parameters": [
                        {"name": "after", "in": "query", "schema": {"type": "integer", "default": 0, "minimum": 0, "maximum": INT64_MAX}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 500, "maximum": 500}},
                    ],
                    "responses": {
                        "200": _response(
                            "Messages with seq greater than `after`, oldest first",
                            {
                                "type": "object",
                                "required": ["messages"],
                                "properties": {"messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}}},
                            },
                        ),
                        "400": _response("'after' or 'limit' is not a whole number in range", _ERROR),
                        **errors,
                    },
                },
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness and store reachability",
                    "responses": {"200": _response("Healthy"), "503": _response("The store is unreachable")},
                }
            },
        },
    }
