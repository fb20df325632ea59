"""Who may bind: system_id + argon2id password, verified off the event loop.

The verdict is data (a ``BindVerdict``), never an exception: the server turns it into
the bind response.  Password text is only ever passed to argon2 and dropped.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from router.config import AccountConfig, AuthConfig
from router.smpp.pdu import CommandId, CommandStatus

_HASHER = PasswordHasher()

BIND_TYPE = {
    CommandId.BIND_TRANSMITTER: "tx",
    CommandId.BIND_RECEIVER: "rx",
    CommandId.BIND_TRANSCEIVER: "trx",
}


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


@dataclass(frozen=True, slots=True)
class BindVerdict:
    status: int
    reason: str
    account: AccountConfig | None = None

    @property
    def accepted(self) -> bool:
        return self.status == CommandStatus.ESME_ROK


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class Authenticator:
    """Cheap checks first; the argon2 hash runs in a bounded thread pool."""

    def __init__(self, accounts: tuple[AccountConfig, ...], config: AuthConfig) -> None:
        self._accounts = {a.system_id: a for a in accounts}
        self._config = config
        self._pool = ThreadPoolExecutor(max_workers=max(1, config.hash_workers),
                                        thread_name_prefix="argon2")

    def _refusal(self, distinct_status: int, reason: str) -> BindVerdict:
        uniform = self._config.uniform_bind_failure
        return BindVerdict(CommandStatus.ESME_RBINDFAIL if uniform else distinct_status, reason)

    async def check(self, command_id: int, system_id: str, password: str) -> BindVerdict:
        account = self._accounts.get(system_id)
        if account is None:
            return self._refusal(CommandStatus.ESME_RINVSYSID, "unknown system_id")
        if BIND_TYPE[CommandId(command_id)] not in account.bind_types:
            return BindVerdict(CommandStatus.ESME_RBINDFAIL, "bind type not allowed")
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(self._pool, _verify, account.password_hash, password)
        if not ok:
            return self._refusal(CommandStatus.ESME_RINVPASWD, "wrong password")
        return BindVerdict(CommandStatus.ESME_ROK, "ok", account)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
