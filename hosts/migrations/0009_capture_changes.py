"""Record every write of the replicated hosts tables in the change log (database triggers, syncsite.changes).

Cronjob locks and runs are site-local (never replicated) and stay out.
"""

from django.db import migrations

from syncsite.changes import CaptureChanges


class Migration(migrations.Migration):
    dependencies = [
        ("hosts", "0008_host_labels_gin"),
        ("syncsite", "0005_change_log"),
    ]

    operations = [
        CaptureChanges("account", natural_key=["name"]),
        CaptureChanges("accountcustomfield"),
        CaptureChanges("host", natural_key=["hostname"]),
        CaptureChanges("hostseen"),
        CaptureChanges("logentry"),
        CaptureChanges("customattributerule"),
        CaptureChanges("customattributecondition"),
        CaptureChanges("customattributeoutcome"),
        CaptureChanges("rewriterule"),
        CaptureChanges("rewritecondition"),
        CaptureChanges("rewriteoutcome"),
        CaptureChanges("filterrule"),
        CaptureChanges("filtercondition"),
        CaptureChanges("filteroutcome"),
        CaptureChanges("rulesstate"),
    ]
