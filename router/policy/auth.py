"""Who may bind.  Checks run cheapest first and the argon2id hash last:

lockout -> account exists and active -> bind type -> source IP (allow list, then
domestic ranges unless exempt) -> concurrent binds -> password.

The password hash runs in a bounded thread pool, never on the event loop; a short-lived
cache of successful verifications, keyed by an HMAC of (system_id, hash, password)
under a per-process random key, absorbs reconnect storms without keeping any password.
Every attempt is audited (structlog event + registry row).  Password text is only ever
handed to argon2 and the HMAC, never logged, stored or put in an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache, partial

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from router.model.accounts import Account, AuditEntry
from router.model.apikeys import ApiKey
from router.model.ranges import DomesticRanges, parse_address
from router.model.status import BIND_REFUSED, UNKNOWN_SYSTEM_ID, WRONG_PASSWORD
from router.policy.binds import SharedBinds
from router.policy.lockout import Lockout, LockoutPolicy, ip_key, system_id_key
from router.policy.settings import AuthSettings
from router.smpp.pdu import CommandId
from router.store.registry import Registry
from router.store.writer import RegistryWriter, Stores

log = structlog.get_logger("chapar.auth")
# OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane) rather than argon2-cffi's default
# (64 MiB, 3 passes, 4 lanes): still memory-hard, and a bind storm's hashing then costs the
# traffic on the same machine far less cache and CPU (benchmarks/bind_storm.py).  Hashes
# carry their parameters, so older ones still verify.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)

NOT_ALLOWED_IP = "source ip not in the account's allow list"
NOT_DOMESTIC = "source ip not domestic"
UNKNOWN_API_KEY = "unknown api key"
HTTP_AUDIT_EVERY = 60.0
_HTTP_OK = ("accepted", "ok")
COUNTED_REFUSALS = frozenset({NOT_ALLOWED_IP, NOT_DOMESTIC})
"""Refusals before the password that count towards lockout, as wrong passwords do."""
AUDIT_BATCH = 256
AUDIT_EVERY = 0.1
"""Bind audit rows go to the registry writer in one job every AUDIT_EVERY seconds, or
at AUDIT_BATCH rows."""

BIND_TYPE = {
    CommandId.BIND_TRANSMITTER: "tx",
    CommandId.BIND_RECEIVER: "rx",
    CommandId.BIND_TRANSCEIVER: "trx",
}


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def _store_lock(key: str, until: float, reason: str, stores: Stores) -> None:
    stores.registry.set_lock(key, until, reason)


def _lower_priority(nice: int) -> None:
    """Hash threads yield the core to the event loop: a bind storm slows binds, not traffic."""
    # not Linux, or not allowed: run at normal priority
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=4096)
def _networks(allowed: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network,
                                                  ...]:
    return tuple(ipaddress.ip_network(a, strict=False) for a in allowed)


def ip_allowed(ip: str, allowed: tuple[str, ...]) -> bool:
    addr = parse_address(ip)
    if addr is None:
        return False
    return any(addr in net for net in _networks(allowed) if net.version == addr.version)


@dataclass(frozen=True, slots=True)
class BindVerdict:
    status: int
    reason: str
    account: Account | None = None
    slot: str = ""
    """The bind's slot among its account's max_binds over every process (``binds``),
    given back with ``Authenticator.unbound``."""

    @property
    def accepted(self) -> bool:
        return self.status == 0


class Authenticator:
    def __init__(self, registry: Registry, config: AuthSettings,
                 live_binds: Callable[[str], int], writer: RegistryWriter) -> None:
        self._registry = registry
        self._writer = writer
        self._config = config
        self._live_binds = live_binds
        self.shared_binds: SharedBinds | None = None
        """Set when the limits are shared through Redis: max_binds over every process."""
        self._accounts = {a.system_id: a for a in registry.accounts()}
        self.ranges: DomesticRanges | None = registry.current_ranges()
        self.lockout = Lockout(LockoutPolicy(max_failures=config.lockout_failures,
                                             window=config.lockout_window,
                                             lock_for=config.lockout_period))
        for key, until in registry.locks(time.time()).items():
            self.lockout.lock(key, until)
        self._pool = ThreadPoolExecutor(max_workers=max(1, config.hash_workers),
                                        thread_name_prefix="argon2",
                                        initializer=_lower_priority, initargs=(config.hash_nice,))
        self._cache_key = os.urandom(32)
        self._verified: dict[bytes, tuple[float, bool]] = {}
        # what unknown system_ids are verified against: same parameters as new hashes
        self._dummy_hash = _HASHER.hash(os.urandom(16).hex())
        self._audits: list[AuditEntry] = []
        self.binds: dict[tuple[str, str], int] = {}
        """Bind attempts by (outcome, reason), since start."""
        self._audit_timer: asyncio.TimerHandle | None = None
        self._http_seen: dict[tuple[str, str], float] = {}
        """(key id, address) -> until when its successes are not audited again."""

    # --- registry changes -----------------------------------------------------------

    def reload_account(self, system_id: str) -> Account | None:
        account = self._registry.get_account(system_id)
        if account is None:
            self._accounts.pop(system_id, None)
        else:
            self._accounts[system_id] = account
        return account

    def reload_ranges(self) -> None:
        self.ranges = self._registry.current_ranges()
        log.info("ranges_loaded", version=self.ranges.version if self.ranges else None,
                 intervals=self.ranges.size if self.ranges else 0)

    def account(self, system_id: str) -> Account | None:
        return self._accounts.get(system_id)

    # --- the bind decision ----------------------------------------------------------

    def _refuse(self, distinct: int, reason: str) -> BindVerdict:
        uniform = self._config.uniform_bind_failure
        return BindVerdict(BIND_REFUSED if uniform else distinct, reason)

    async def check(self, command_id: int, system_id: str, password: str,
                    peer: tuple[str, int]) -> BindVerdict:
        verdict = await self._decide(command_id, system_id, password, peer[0])
        self._audit(BIND_TYPE[CommandId(command_id)], system_id, peer, verdict)
        return verdict

    def check_api_key(self, key: ApiKey | None, peer: tuple[str, int]) -> BindVerdict:
        """An HTTP API request, by its key (None: no active key matched), checked as a
        bind is from its source address: lockout, account active, allowed IPs, domestic
        ranges; no hash (the key is 256 random bits).  Audited as bind type ``http``; an
        unknown key or a refused address counts towards lockout as a wrong password does."""
        ip = peer[0]
        if key is None:
            verdict = self._locked(ip, "", None, time.time(), by_id=False)
            if verdict is None:
                self._fail([ip_key(ip)])
                verdict = BindVerdict(UNKNOWN_SYSTEM_ID, UNKNOWN_API_KEY)
            self._audit("http", "-", peer, verdict)
            return verdict
        account = self._accounts.get(key.system_id)
        now = time.time()
        verdict = self._locked(ip, key.system_id, account, now) or \
            self._http_admission(account, key.system_id, ip)
        if not verdict.accepted or self._http_seen.get((key.key_id, ip), 0.0) < now:
            # every refusal; a success once a minute per key and address (a request per
            # message must not cost a log line and an audit row each)
            if verdict.accepted:
                if len(self._http_seen) > 10_000:
                    self._http_seen.clear()
                self._http_seen[key.key_id, ip] = now + HTTP_AUDIT_EVERY
            self._audit("http", key.system_id, peer, verdict)
        else:
            self.binds[_HTTP_OK] = self.binds.get(_HTTP_OK, 0) + 1
        return verdict

    def _http_admission(self, account: Account | None, system_id: str, ip: str
                        ) -> BindVerdict:
        if account is None or account.status != "active":
            return BindVerdict(BIND_REFUSED, f"account {account.status if account else 'gone'}")
        refusal = self._source_refusal(account, ip)
        if refusal is not None:
            self._failed(ip, system_id, account)
            return BindVerdict(BIND_REFUSED, refusal)
        self.lockout.succeed(ip_key(ip))
        return BindVerdict(0, "ok", account)

    async def _decide(self, command_id: int, system_id: str, password: str,
                      ip: str) -> BindVerdict:
        account = self._accounts.get(system_id)
        locked = self._locked(ip, system_id, account, time.time())
        if locked is not None:
            return locked
        if account is None:
            # As slow as a wrong password: the time to a refusal must not tell which
            # system_ids exist (uniform_bind_failure already hides the status).
            await self._password_ok(system_id, self._dummy_hash, password)
            self._failed(ip, system_id, None)
            return self._refuse(UNKNOWN_SYSTEM_ID, "unknown system_id")
        refusal = self._admission(account, command_id, ip)
        if refusal is not None:
            # a hash here too: a refusal before the password takes as long as one after
            await self._password_ok(system_id, account.password_hash, password)
            if refusal in COUNTED_REFUSALS:  # a spray from other addresses locks too
                self._failed(ip, system_id, account)
            return BindVerdict(BIND_REFUSED, refusal)
        if not await self._password_ok(system_id, account.password_hash, password):
            self._failed(ip, system_id, self._accounts.get(system_id))
            return self._refuse(WRONG_PASSWORD, "wrong password")
        # Re-read after the await: the account may have changed meanwhile.
        account = self._accounts.get(system_id)
        if account is None or account.status != "active":
            return BindVerdict(BIND_REFUSED, "account changed during bind")
        live = self._live_binds(system_id)
        if account.max_binds and live >= account.max_binds:
            return BindVerdict(BIND_REFUSED, "too many binds")
        slot = ""
        if account.max_binds and self.shared_binds is not None:
            taken = await self.shared_binds.take(system_id, account.max_binds, live)
            if taken is None:
                return BindVerdict(BIND_REFUSED, "too many binds (all processes)")
            slot = taken
        self.lockout.succeed(ip_key(ip))
        self.lockout.succeed(system_id_key(system_id))
        return BindVerdict(0, "ok", account, slot)

    def unbound(self, system_id: str, slot: str) -> None:
        """A bind that took a shared slot ended."""
        if slot and self.shared_binds is not None:
            self.shared_binds.drop(system_id, slot)

    def _locked(self, ip: str, system_id: str, account: Account | None,
                now: float, by_id: bool = True) -> BindVerdict | None:
        """Refused before any hashing: the source address, or the system_id unless its
        account opted out of the per-system_id lockout."""
        keys = [ip_key(ip)]
        if by_id and (account is None or account.id_lockout):
            keys.append(system_id_key(system_id))
        for key in keys:
            if self.lockout.locked_until(key, now) is not None:
                return BindVerdict(BIND_REFUSED, f"locked out ({key.split(':')[0]})")
        return None

    def _admission(self, account: Account, command_id: int, ip: str) -> str | None:
        """Why a known account may not bind from here now (checks 3-7), or None."""
        if account.status != "active":
            return f"account {account.status}"
        if BIND_TYPE[CommandId(command_id)] not in account.bind_types:
            return "bind type not allowed"
        refusal = self._source_refusal(account, ip)
        if refusal is not None:
            return refusal
        if account.max_binds and self._live_binds(account.system_id) >= account.max_binds:
            return "too many binds"
        return None

    def _source_refusal(self, account: Account, ip: str) -> str | None:
        """Why the account may not be used from ``ip`` (allow list, domestic ranges)."""
        if not ip_allowed(ip, account.allowed_ips):
            return NOT_ALLOWED_IP
        if not account.domestic_exempt:
            if self.ranges is None:
                return "no domestic ranges imported"
            if ip not in self.ranges:
                return NOT_DOMESTIC
        return None

    async def _password_ok(self, system_id: str, password_hash: str, password: str) -> bool:
        key = hmac.digest(self._cache_key, b"\0".join((
            system_id.encode(), password_hash.encode(),
            password.encode("utf-8", "surrogateescape"))), hashlib.sha256)
        now = time.monotonic()
        known = self._verified.get(key)
        if known is not None and known[0] > now:
            return known[1]
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(self._pool, _verify, password_hash, password)
        if self._config.verify_cache_ttl > 0:
            # Both outcomes are remembered: a client reconnecting in a loop with a stale
            # password is the commonest bind storm, and it must not cost a hash each time.
            if len(self._verified) > 10_000:
                self._verified = {k: v for k, v in self._verified.items() if v[0] > now}
            self._verified[key] = (now + self._config.verify_cache_ttl, ok)
        return ok

    def _failed(self, ip: str, system_id: str, account: Account | None) -> None:
        """A failure counts for the source address, and for the system_id unless its
        account opted out (``id_lockout``: anyone at an allowed address could otherwise
        lock the account out)."""
        keys = [ip_key(ip)]
        if account is None or account.id_lockout:
            keys.append(system_id_key(system_id))
        self._fail(keys)

    def _fail(self, keys: list[str]) -> None:
        now = time.time()
        for key in keys:
            until = self.lockout.fail(key, now)
            if until is not None:
                reason = f"{self._config.lockout_failures} failures"
                self._writer.submit("lockout", partial(_store_lock, key, until, reason))
                log.warning("lockout", key=key, until=until, reason=reason,
                            period=self._config.lockout_period)

    def _audit(self, bind_type: str, system_id: str, peer: tuple[str, int],
               verdict: BindVerdict) -> None:
        outcome = "accepted" if verdict.accepted else "refused"
        key = (outcome, verdict.reason)
        self.binds[key] = self.binds.get(key, 0) + 1
        version = self.ranges.version if self.ranges else ""
        log.info("bind", peer=f"{peer[0]}:{peer[1]}", system_id=system_id,
                 bind_type=bind_type, outcome=outcome, reason=verdict.reason,
                 status=f"0x{verdict.status:08x}", ranges_version=version,
                 demo=bool(verdict.account and verdict.account.demo))
        self._audits.append(AuditEntry(time.time(), f"{peer[0]}:{peer[1]}", system_id,
                                       bind_type, outcome, verdict.reason, verdict.status,
                                       version))
        if len(self._audits) >= AUDIT_BATCH:
            self.flush_audit()
        elif self._audit_timer is None:
            self._audit_timer = asyncio.get_running_loop().call_later(AUDIT_EVERY,
                                                                      self.flush_audit)

    def flush_audit(self) -> None:
        """The attempts audited since the last flush, as one registry-writer job (one
        transaction): every AUDIT_EVERY seconds, or every AUDIT_BATCH attempts in a
        storm (binds end one hash apart, so per loop turn would still be one each)."""
        if self._audit_timer is not None:
            self._audit_timer.cancel()
            self._audit_timer = None
        entries, self._audits = self._audits, []
        if entries:
            self._writer.submit("bind audit", lambda s: s.registry.audit(entries))

    def sweep(self) -> None:
        now = time.time()
        for key, until in self.lockout.locks().items():
            if until <= now:
                log.info("lockout_expired", key=key)
        self.lockout.sweep(now)

    def close(self) -> None:
        self.flush_audit()
        self._pool.shutdown(wait=False, cancel_futures=True)
