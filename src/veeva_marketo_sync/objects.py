"""Which Veeva objects the sync supports, and why the others are refused."""

from __future__ import annotations

from .errors import ConfigError

#: Objects the product we follow does not sync, with the reason given to the user.
UNSUPPORTED_OBJECTS: dict[str, str] = {
    "Lead": "Veeva CRM does not use Leads; healthcare professionals are Person Accounts",
    "Contact": "Veeva CRM models people as Person Accounts; sync the Account object instead",
    "Opportunity": "Veeva CRM does not use Opportunities; they are outside the sync",
    "Campaign": "Marketo owns campaigns; Salesforce Campaigns are outside the sync",
    "Task": "Salesforce Task activities are not synced; Veeva calls (Call2_vod__c) are",
    "Event": "Salesforce Event activities are not synced; Veeva calls (Call2_vod__c) are",
}

#: Standard objects the sync handles; custom objects (``__c``) may be added by configuration.
STANDARD_OBJECTS: tuple[str, ...] = (
    "Account",
    "User",
    "Call2_vod__c",
    "Call2_Key_Message_vod__c",
)


def unsupported_reason(object_name: str) -> str | None:
    """Why ``object_name`` cannot be synced, or ``None`` when it can."""
    reason = UNSUPPORTED_OBJECTS.get(object_name)
    if reason is not None:
        return f"object {object_name!r} is not supported: {reason}"
    if object_name not in STANDARD_OBJECTS and not object_name.endswith("__c"):
        return (
            f"object {object_name!r} is not supported: only "
            f"{', '.join(STANDARD_OBJECTS)} and custom objects (names ending in __c) sync"
        )
    return None


def check_supported(object_name: str, *, key: str) -> None:
    """Raise ``ConfigError`` naming ``key`` when ``object_name`` cannot be synced."""
    reason = unsupported_reason(object_name)
    if reason is not None:
        raise ConfigError(f"{key}: {reason}")
