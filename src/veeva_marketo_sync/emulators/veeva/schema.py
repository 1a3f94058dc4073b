"""The emulated org's data model: objects, fields, types, picklists and key prefixes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FieldType = Literal[
    "id",
    "string",
    "email",
    "phone",
    "picklist",
    "boolean",
    "date",
    "datetime",
    "double",
    "int",
    "reference",
    "textarea",
]

SOAP_TYPES: dict[str, str] = {
    "id": "tns:ID",
    "string": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "picklist": "xsd:string",
    "textarea": "xsd:string",
    "boolean": "xsd:boolean",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "double": "xsd:double",
    "int": "xsd:int",
    "reference": "tns:ID",
}

TEXT_TYPES = frozenset({"id", "string", "email", "phone", "picklist", "textarea", "reference"})


@dataclass(frozen=True)
class FieldDef:
    """One field of an emulated sObject."""

    name: str
    type: FieldType
    label: str = ""
    length: int = 0
    updateable: bool = True
    createable: bool = True
    nillable: bool = True
    reference_to: str | None = None
    picklist: tuple[str, ...] = ()
    custom: bool = False

    @property
    def relationship_name(self) -> str | None:
        """Name used to traverse this lookup in SOQL (``OwnerId`` -> ``Owner``)."""
        if self.type != "reference" or self.reference_to is None:
            return None
        if self.name.endswith("__c"):
            return self.name[:-3] + "__r"
        if self.name.endswith("Id"):
            return self.name[:-2]
        return None

    @property
    def sql_type(self) -> str:
        """SQLite column affinity for the field."""
        if self.type in ("boolean", "int"):
            return "INTEGER"
        if self.type == "double":
            return "REAL"
        return "TEXT"


@dataclass(frozen=True)
class ObjectDef:
    """One emulated sObject."""

    name: str
    label: str
    key_prefix: str
    fields: tuple[FieldDef, ...]
    custom: bool = False
    autonumber_format: str | None = None
    by_lower: dict[str, FieldDef] = field(init=False, repr=False, compare=False)
    by_relationship: dict[str, FieldDef] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_lower", {f.name.lower(): f for f in self.fields})
        rels = {f.relationship_name.lower(): f for f in self.fields if f.relationship_name}
        object.__setattr__(self, "by_relationship", rels)

    def field(self, name: str) -> FieldDef | None:
        """Look a field up case-insensitively, as Salesforce does."""
        return self.by_lower.get(name.lower())


def _f(
    name: str,
    type_: FieldType,
    length: int = 0,
    *,
    ro: bool = False,
    ref: str | None = None,
    values: tuple[str, ...] = (),
    nillable: bool = True,
) -> FieldDef:
    label = name.removesuffix("__c").removesuffix("_vod").replace("_", " ")
    if not length and type_ in ("string", "email", "phone", "picklist", "reference", "id"):
        length = {"id": 18, "reference": 18, "email": 80, "phone": 40}.get(type_, 255)
    if not length and type_ == "textarea":
        length = 32000
    return FieldDef(
        name=name,
        type=type_,
        label=label,
        length=length,
        updateable=not ro,
        createable=not ro,
        nillable=nillable,
        reference_to=ref,
        picklist=values,
        custom=name.endswith("__c"),
    )


SYSTEM_FIELDS: tuple[FieldDef, ...] = (
    _f("Id", "id", ro=True, nillable=False),
    _f("IsDeleted", "boolean", ro=True, nillable=False),
    _f("CreatedDate", "datetime", ro=True, nillable=False),
    _f("CreatedById", "reference", ro=True, ref="User", nillable=False),
    _f("LastModifiedDate", "datetime", ro=True, nillable=False),
    _f("LastModifiedById", "reference", ro=True, ref="User", nillable=False),
    _f("SystemModstamp", "datetime", ro=True, nillable=False),
)
SYSTEM_FIELD_NAMES = frozenset(f.name for f in SYSTEM_FIELDS)

SPECIALTIES = (
    "Cardiology_vod",
    "Oncology_vod",
    "Family_Medicine_vod",
    "Internal_Medicine_vod",
    "Pediatrics_vod",
    "Neurology_vod",
    "Dermatology_vod",
    "Psychiatry_vod",
)
CREDENTIALS = ("MD", "DO", "NP", "PA", "RN", "PharmD", "PhD")
SALUTATIONS = ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")
CALL_STATUSES = ("Planned_vod", "Saved_vod", "Submitted_vod")
CALL_TYPES = ("Detail Only", "Detail with Sample", "Group Detail", "Sample Only", "Call Only")
REACTIONS = ("Positive", "Neutral", "Negative")
KEY_MESSAGE_CATEGORIES = ("Efficacy", "Safety", "Dosing", "Access", "Disease Awareness")
INQUIRY_STATUSES = ("New_vod", "Submitted_vod", "Responded_vod", "Closed_vod")
DELIVERY_METHODS = ("Email_vod", "Phone_vod", "Mail_vod", "Fax_vod", "In_Person_vod")

ACCOUNT_RECORD_TYPES = (
    "Professional_vod",
    "Hospital_vod",
    "Board_vod",
    "Pharmacy_vod",
    "Practice_vod",
)
PERSON_RECORD_TYPES = frozenset({"Professional_vod", "Board_vod"})

OBJECTS: dict[str, ObjectDef] = {}


def _register(obj: ObjectDef) -> None:
    OBJECTS[obj.name.lower()] = obj


_register(
    ObjectDef(
        name="User",
        label="User",
        key_prefix="005",
        fields=(
            *SYSTEM_FIELDS,
            _f("Username", "string", 80, nillable=False),
            _f("FirstName", "string", 40),
            _f("LastName", "string", 80, nillable=False),
            _f("Name", "string", 121, ro=True),
            _f("Email", "email", nillable=False),
            _f("Title", "string", 80),
            _f("Phone", "phone"),
            _f("IsActive", "boolean", nillable=False),
        ),
    )
)
_register(
    ObjectDef(
        name="RecordType",
        label="Record Type",
        key_prefix="012",
        fields=(
            *SYSTEM_FIELDS,
            _f("Name", "string", 80),
            _f("DeveloperName", "string", 80),
            _f("SobjectType", "string", 40),
            _f("IsActive", "boolean"),
        ),
    )
)
_register(
    ObjectDef(
        name="Account",
        label="Account",
        key_prefix="001",
        fields=(
            *SYSTEM_FIELDS,
            _f("Name", "string", 255),
            _f("IsPersonAccount", "boolean", ro=True, nillable=False),
            _f("PersonContactId", "reference", ro=True, ref="Contact"),
            _f("RecordTypeId", "reference", ref="RecordType"),
            _f("OwnerId", "reference", ref="User", nillable=False),
            _f("FirstName", "string", 40),
            _f("LastName", "string", 80),
            _f("Salutation", "picklist", 40, values=SALUTATIONS),
            _f("PersonEmail", "email"),
            _f("Phone", "phone"),
            _f("PersonMobilePhone", "phone"),
            _f("PersonTitle", "string", 80),
            _f("PersonMailingStreet", "textarea", 255),
            _f("PersonMailingCity", "string", 40),
            _f("PersonMailingState", "string", 80),
            _f("PersonMailingPostalCode", "string", 20),
            _f("PersonMailingCountry", "string", 80),
            _f("PersonHasOptedOutOfEmail", "boolean", nillable=False),
            _f("PersonDoNotCall", "boolean", nillable=False),
            _f("Specialty_1_vod__c", "picklist", values=SPECIALTIES),
            _f("Credentials_vod__c", "picklist", values=CREDENTIALS),
            _f("NPI_vod__c", "string", 10),
            _f("Primary_Parent_vod__c", "reference", ref="Account"),
        ),
    )
)
_register(
    ObjectDef(
        name="Key_Message_vod__c",
        label="Key Message",
        key_prefix="a0C",
        custom=True,
        fields=(
            *SYSTEM_FIELDS,
            _f("Name", "string", 80),
            _f("OwnerId", "reference", ref="User", nillable=False),
            _f("Description_vod__c", "textarea", 255),
            _f("Category_vod__c", "picklist", values=KEY_MESSAGE_CATEGORIES),
            _f("Active_vod__c", "boolean", nillable=False),
            _f("CLM_ID_vod__c", "string", 100),
        ),
    )
)
_register(
    ObjectDef(
        name="Call2_vod__c",
        label="Call",
        key_prefix="a0A",
        custom=True,
        autonumber_format="C-{:07d}",
        fields=(
            *SYSTEM_FIELDS,
            _f("Name", "string", 80, ro=True),
            _f("OwnerId", "reference", ref="User", nillable=False),
            _f("Account_vod__c", "reference", ref="Account"),
            _f("User_vod__c", "reference", ref="User"),
            _f("Call_Date_vod__c", "date"),
            _f("Call_Datetime_vod__c", "datetime"),
            _f("Status_vod__c", "picklist", values=CALL_STATUSES),
            _f("Call_Type_vod__c", "picklist", values=CALL_TYPES),
            _f("Detailed_Products_vod__c", "textarea", 32000),
            _f("Duration_vod__c", "double"),
            _f("Is_Parent_Call_vod__c", "double", ro=True),
        ),
    )
)
_register(
    ObjectDef(
        name="Call2_Key_Message_vod__c",
        label="Call Key Message",
        key_prefix="a0B",
        custom=True,
        autonumber_format="CKM-{:07d}",
        fields=(
            *SYSTEM_FIELDS,
            _f("Name", "string", 80, ro=True),
            _f("Call2_vod__c", "reference", ref="Call2_vod__c", nillable=False),
            _f("Key_Message_vod__c", "reference", ref="Key_Message_vod__c"),
            _f("Account_vod__c", "reference", ref="Account"),
            _f("User_vod__c", "reference", ref="User"),
            _f("Key_Message_Name_vod__c", "string", 80),
            _f("Reaction_vod__c", "picklist", values=REACTIONS),
            _f("Category_vod__c", "picklist", values=KEY_MESSAGE_CATEGORIES),
            _f("Call_Date_vod__c", "date"),
            _f("Duration_vod__c", "double"),
        ),
    )
)
_register(
    ObjectDef(
        name="Medical_Inquiry_vod__c",
        label="Medical Inquiry",
        key_prefix="a0D",
        custom=True,
        autonumber_format="MI-{:07d}",
        fields=(
            *SYSTEM_FIELDS,
            _f("Name", "string", 80, ro=True),
            _f("OwnerId", "reference", ref="User", nillable=False),
            _f("Account_vod__c", "reference", ref="Account"),
            _f("Inquiry_Text__c", "textarea", 32000),
            _f("Status_vod__c", "picklist", values=INQUIRY_STATUSES),
            _f("Delivery_Method_vod__c", "picklist", values=DELIVERY_METHODS),
        ),
    )
)

PREFIX_TO_OBJECT: dict[str, str] = {o.key_prefix: o.name for o in OBJECTS.values()}


def get_object(name: str) -> ObjectDef | None:
    """Look an object up case-insensitively."""
    return OBJECTS.get(name.lower())
