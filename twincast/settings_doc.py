"""One table of every setting of every service, generated from the settings classes
(``foundation.settings.known.SERVICES``).

``twincast settings`` prints it; README.md carries the same table (a test keeps them equal).
"""

from __future__ import annotations

from foundation.settings.base import ENV_PREFIX, KafkaSettings
from foundation.settings.known import SERVICES


def settings_table() -> str:
    rows: dict[str, list[str]] = {}
    order: list[str] = []
    shared = set(KafkaSettings.model_fields)
    for service, cls in SERVICES:
        for name, field in cls.model_fields.items():
            if name in shared and cls is not KafkaSettings:
                continue
            var = f"`{ENV_PREFIX}{name.upper()}`"
            default = field.get_default(call_default_factory=True)
            shown = "unset" if default is None else f"`{getattr(default, 'value', default)}`"
            if var in rows:
                rows[var][2] += f", {service}"
                if shown not in rows[var][1]:  # same variable, another default per service
                    rows[var][1] += f" ({rows[var][2].split(',')[0]}), {shown} ({service})"
                continue
            rows[var] = [var, shown, service, (field.description or "").replace("|", "\\|")]
            order.append(var)
    lines = ["| variable | default | used by | meaning |", "| --- | --- | --- | --- |"]
    lines += [f"| {' | '.join(rows[v])} |" for v in order]
    return "\n".join(lines)


START, END = "<!-- settings-table:start -->\n", "<!-- settings-table:end -->"


def update_readme(path: str) -> bool:
    """Rewrite the table between the README's markers; True if it changed."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}{settings_table()}\n{END}{tail}"
    if new != text:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(new)
    return new != text
