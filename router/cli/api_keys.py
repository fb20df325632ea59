"""``chapar accounts api-key add SYSTEM_ID [--note N] | list [SYSTEM_ID] | revoke KEY_ID``:
keys of the HTTP API.  A new key is printed once (stdout, nothing else on the line) and
only its digest is kept; a revoked key stops working within a second."""

from __future__ import annotations

import argparse
import sys

from router.cli.common import Stores, when
from router.store.api_keys import ApiKeyStore
from router.store.registry import RegistryError


def run(args: argparse.Namespace, stores: Stores) -> None:
    store = ApiKeyStore(stores.config.store.registry())
    try:
        if args.op == "add":
            if not args.target:
                raise RegistryError("api-key add needs the account's system_id")
            key, whole = store.add(args.target, args.note or "")
            print(whole)
            print(f"key {key.key_id} of {key.system_id}: shown once, keep it now",
                  file=sys.stderr)
        elif args.op == "list":
            keys = store.keys(args.target)
            if not keys:
                print("no keys")
            for key in keys:
                state = f"revoked {when(key.revoked_at)}" if key.revoked_at else "active"
                print(f"{key.key_id}  {key.system_id:16} {state:28} created "
                      f"{when(key.created_at)}  {key.note}")
        else:
            if not args.target:
                raise RegistryError("api-key revoke needs the key id")
            key = store.revoke(args.target)
            print(f"revoked {key.key_id} of {key.system_id}")
    finally:
        store.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("op", choices=("add", "list", "revoke"))
    parser.add_argument("target", nargs="?",
                        help="add: the system_id; list: a system_id (all without); "
                             "revoke: the key id")
    parser.add_argument("--note", help="add: what the key is for")
