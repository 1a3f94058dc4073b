from __future__ import annotations

from veeva_marketo_sync.topics import Cleanup, Topics


def test_names_follow_the_design_table() -> None:
    topics = Topics()
    assert topics.veeva("Account") == "veeva.Account"
    assert topics.marketo("leads") == "marketo.leads"
    assert topics.lead_edits == "marketo.lead-edits"
    assert topics.contact_edits == "veeva.Account.contact-edits"
    assert topics.checkpoints == "vmsync.checkpoints"
    assert topics.idmap == "vmsync.idmap"
    assert topics.dlq == "vmsync.dlq"


def test_prefix_lets_orgs_share_a_cluster() -> None:
    assert Topics("acme").veeva("Call2_vod__c") == "acme.veeva.Call2_vod__c"
    assert Topics("acme").dlq == "acme.vmsync.dlq"


def test_cleanup_policies() -> None:
    specs = {s.name: s for s in Topics().specs(("Account",), ("leads",))}
    assert specs["veeva.Account"].cleanup is Cleanup.COMPACT
    assert specs["vmsync.checkpoints"].cleanup is Cleanup.COMPACT
    assert specs["vmsync.idmap"].cleanup is Cleanup.COMPACT
    assert specs["marketo.leads"].configs()["cleanup.policy"] == "delete"
    assert "retention.ms" in specs["vmsync.dlq"].configs()
    assert len(specs) == len(set(specs))
