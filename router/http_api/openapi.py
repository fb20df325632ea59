"""The HTTP API's OpenAPI 3.1 document (a test checks every route is in it)."""

from __future__ import annotations

from typing import Any

_ERR = {"description": "error", "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/Error"}}}}

SEND_BODY = {
    "type": "object", "required": ["from", "to", "text"], "additionalProperties": False,
    "properties": {
        "from": {"type": "string", "description": "one of the account's lines"},
        "to": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"},
                                                "minItems": 1, "maxItems": 1000}],
               "description": "international form, digits (a leading + is dropped)"},
        "text": {"type": "string", "description": "GSM 7-bit when it fits, else UCS2; "
                                                  "split into parts as SMPP submits are"},
        "client_ref": {"type": "string", "maxLength": 64},
        "validity": {"type": "integer", "minimum": 60, "maximum": 604800,
                     "description": "seconds the message may wait for a carrier"},
        "priority": {"type": "integer", "minimum": 0, "maximum": 3},
    },
}
RESULT = {
    "type": "object", "properties": {
        "to": {"type": "string"}, "status": {"enum": ["accepted", "refused", "partial"]},
        "id": {"type": "string"}, "ids": {"type": "array", "items": {"type": "string"}},
        "segments": {"type": "integer"}, "price": {"type": "integer"},
        "reason": {"type": "string"}, "error": {"type": "string"},
        "smpp_status": {"type": "string"}},
}

PATHS: dict[str, dict[str, Any]] = {
    "/v1/messages": {"post": {
        "summary": "Send one text to 1-1,000 numbers; a result per number",
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": SEND_BODY}}},
        "responses": {
            "200": {"description": "at least one number accepted", "content": {
                "application/json": {"schema": {"type": "object", "properties": {
                    "accepted": {"type": "integer"}, "refused": {"type": "integer"},
                    "segments_each": {"type": "integer"},
                    "messages": {"type": "array", "items": RESULT}}}}}},
            "422": {"description": "every number refused (same body)"},
            "400": _ERR, "401": _ERR, "403": _ERR, "413": _ERR, "503": _ERR}}},
    "/v1/messages/{id}": {"get": {
        "summary": "One message (part) by its id: ENROUTE, then its final state",
        "parameters": [{"name": "id", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "responses": {"200": {"description": "ok"}, "400": _ERR, "401": _ERR, "403": _ERR,
                      "404": _ERR}}},
    "/v1/balance": {"get": {"summary": "The account's prepaid balance",
                            "responses": {"200": {"description": "ok"}, "401": _ERR,
                                          "403": _ERR}}},
    "/v1/openapi.json": {"get": {"summary": "This document", "security": [],
                                 "responses": {"200": {"description": "ok"}}}},
}


def document(version: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Chapar HTTP API", "version": version},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "chapar accounts api-key add"}},
            "schemas": {"Error": {"type": "object", "required": ["error"],
                                  "properties": {"error": {"type": "string"}}}},
        },
        "security": [{"bearer": []}],
        "paths": PATHS,
    }


PATHS["/v1/messages"]["get"] = {
    "summary": "A send by its client_ref: the answer it got, each part's state now",
    "parameters": [{"name": "client_ref", "in": "query", "required": True,
                    "schema": {"type": "string", "maxLength": 64}}],
    "responses": {"200": {"description": "ok"}, "400": _ERR, "401": _ERR, "403": _ERR,
                  "404": _ERR}}
