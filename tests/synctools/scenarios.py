"""Data set-ups run inside either site (the source through /test/control/<name>, the client directly).

Saves go through the ORM one by one where a test needs the change records (signals) a real app
would produce; bulk paths are used only for volume.
"""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

from django.core import serializers
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from synctools.models import ChangeRecord, SyncState
from tests.synctools.testapp.models import Author, Book, Publisher, Tag, Tripwire

MODELS = [Publisher, Tag, Author, Book, Tripwire]


def reset() -> int:
    """Empty the test app and the replicated site apps, and forget change records."""
    with transaction.atomic():
        for model in reversed(MODELS + _site_models()):
            model._base_manager.all().delete()
        ChangeRecord.objects.all().delete()
        SyncState.objects.all().delete()  # and the pull history with it
    return 0


def seed_library(authors: int = 3, books_per_author: int = 2, files: bool = False) -> dict:
    """Publishers (natural keys), tags, authors with a mentor chain (self-FK) and books with tags (M2M)."""
    with transaction.atomic():
        north = Publisher.objects.create(name="North Press", city="Oslo")
        south = Publisher.objects.create(name="South Books", city="Lima")
        tags = [Tag.objects.create(name=name) for name in ("poetry", "history", "science")]
        previous = None
        for index in range(authors):
            author = Author.objects.create(
                name=f"author {index}", mentor=previous, publisher=north if index % 2 == 0 else south
            )
            previous = author
            for number in range(books_per_author):
                book = Book.objects.create(
                    title=f"book {index}.{number}",
                    author=author,
                    price=Decimal("12.50") + index,
                    rating=4.25 if number % 2 == 0 else None,
                    published=datetime.date(2020, 1, 1) + datetime.timedelta(days=index * 10 + number),
                )
                book.tags.set(tags[: (index + number) % 3 + 1])
                if files:
                    book.cover.save(f"cover-{book.pk}.png", ContentFile(b"\x89PNG fake cover %d" % book.pk))
                    book.attachment.save(f"notes-{book.pk}.txt", ContentFile(f"notes for book {book.pk}".encode()))
    return counts()


def counts() -> dict:
    return {model._meta.model_name: model.objects.count() for model in MODELS}


def _to_milliseconds(value):
    """Django's JSON serializer keeps milliseconds, so a source time at 12:00:00.000123 arrives as 12:00:00."""
    if isinstance(value, datetime.datetime | datetime.time):
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    return value


def snapshot() -> list:
    """The test app's data as JSON-ready dicts, with natural keys, in a stable order: compared across sites."""
    objects = []
    for model in MODELS:
        queryset = model.objects.order_by("name") if model is Publisher else model.objects.order_by("pk")
        objects.extend(
            serializers.serialize("python", queryset, use_natural_foreign_keys=True, use_natural_primary_keys=True)
        )
    for entry in objects:  # the wire format carries milliseconds: compare at that precision on both sites
        entry["fields"] = {k: _to_milliseconds(v) for k, v in entry["fields"].items()}
    data = json.loads(json.dumps(objects, cls=DjangoJSONEncoder))
    for entry in data:  # M2M lists come in no particular order
        entry["fields"] = {k: sorted(v) if isinstance(v, list) else v for k, v in entry["fields"].items()}
    return data


def change_some() -> dict:
    """Updates, deletions (with cascades), an M2M edit from both sides and a new row: the incremental case."""
    with transaction.atomic():
        first = Book.objects.order_by("pk").first()
        first.title = "retitled"
        first.save()
        second = Book.objects.order_by("pk")[1]
        second.tags.clear()
        Tag.objects.get(name="science").books.add(Book.objects.order_by("-pk").first())
        last_author = Author.objects.order_by("-pk").first()
        deleted_books = list(last_author.books.values_list("pk", flat=True))
        last_author.delete()
        author = Author.objects.order_by("pk").first()
        new_book = Book.objects.create(title="brand new", author=author, price=Decimal("1.00"))
        Tag.objects.filter(name="history").delete()
        Publisher.objects.create(name="East House")
    return {"deleted_books": deleted_books, "new_book": new_book.pk}


def add_tripwire(good_authors: int = 2500) -> int:
    """Enough good rows for the client to apply batches before the row that explodes."""
    publisher = Publisher.objects.create(name="Tripwire Press")
    Author.objects.bulk_create(Author(name=f"bulk {i}", publisher=publisher) for i in range(good_authors))
    Tripwire.objects.create(value="fine")
    Tripwire.objects.create(value="explode")
    return Author.objects.count()


def bulk(authors: int, books_per_author: int = 1) -> int:
    """Volume without signals (benchmarks)."""
    publisher, _ = Publisher.objects.get_or_create(name="Bulk Press")
    batch = 5000
    made = 0
    for start in range(0, authors, batch):
        new = Author.objects.bulk_create(
            [Author(name=f"bulk author {i}", publisher=publisher) for i in range(start, min(authors, start + batch))]
        )
        Book.objects.bulk_create(
            [
                Book(title=f"bulk book {a.pk}.{n}", author=a, price=Decimal("9.99"), rating=3.5)
                for a in new
                for n in range(books_per_author)
            ],
            batch_size=batch,
        )
        made += len(new)
    return made


def touch_books(every: int) -> int:
    """Save every n-th book through the ORM (signals fire), as an app editing rows would."""
    touched = 0
    for book in Book.objects.filter(pk__in=Book.objects.values_list("pk", flat=True)[::every]).iterator():
        book.title = book.title + " (edited)"
        book.save(update_fields=["title", "updated"])
        touched += 1
    return touched


def delete_book(pk: int) -> int:
    return Book.objects.filter(pk=pk).delete()[0]


def delete_authors(name: str) -> int:
    return Author.objects.filter(name=name).delete()[0]


def delete_tag(name: str) -> int:
    return Tag.objects.filter(name=name).delete()[0]


def media_file(name: str) -> str:
    return default_storage.path(name)


def rewrite_file(name: str, content: str) -> int:
    """Change a media file in place (new size), as an edit on the source would."""
    default_storage.delete(name)
    default_storage.save(name, ContentFile(content.encode()))
    return len(content)


# --- Syncsite's own data (hosts and tracker), for the site-to-site test -------------------------------------


def _site_models():
    from syncsite.sync_routes import LOCAL_ONLY

    excluded = {name.lower() for names in LOCAL_ONLY.values() for name in names}
    from synctools.streaming import app_models

    return [m for label in ("hosts", "tracker") for m in app_models(label) if m._meta.label_lower not in excluded]


def seed_site_data() -> dict:
    """Accounts (with a secret), hosts, the run log, rules, tracker volumes, files and per-site states."""
    from hosts import services as hosts_services
    from hosts.models import (
        Account,
        AccountCustomField,
        CustomAttributeCondition,
        CustomAttributeOutcome,
        CustomAttributeRule,
        Host,
    )
    from tracker import services as tracker_services

    account = Account.objects.create(name="cmdb", type="csv", address="/srv/hosts.csv", password="source-secret")
    AccountCustomField.objects.create(account=account, name="delimiter", value=";")
    for index in range(5):
        host = Host.get_host(f"web{index}.example.com")
        host.update_host({"role": "web", "rack": str(index)})
        host.update_inventory("hw", {"cpus": index + 1})
        host.account = account
        host.save()
    hosts_services.write_log("import", "csv", [("hosts", 5), ("error", "none")], duration=0.5)
    rule = CustomAttributeRule.objects.create(name="tag web", sort_order=1)
    CustomAttributeCondition.objects.create(rule=rule, attribute="role", value="web")
    CustomAttributeOutcome.objects.create(rule=rule, attribute="monitored", value="yes")

    for site in ("paris", "tokyo"):
        tracker_services.create_volume(site, url=f"ssh://sync@{site}.example/project/")
    for index in range(4):
        tracker_services.publish(f"/projects/shot{index}.exr", origin="paris", author="alice", comment="v1")
    tracker_services.mark_synced("/projects/shot0.exr", "tokyo")
    tracker_services.mark_error("/projects/shot1.exr", "tokyo", 23, "partial transfer")
    return site_counts()


def site_counts() -> dict:
    return {model._meta.label_lower: model._base_manager.count() for model in _site_models()}


def site_snapshot() -> list:
    """hosts and tracker rows as the sync routes serve them (without secrets), in a stable order."""
    from syncsite.sync_routes import (
        route,  # noqa: F401 - the routes define what is replicated
        secret_fields,
    )

    omitted = {name.lower() for label in ("hosts", "tracker") for name in secret_fields(label)}
    objects = []
    for model in _site_models():
        rows = serializers.serialize(
            "python", model._base_manager.order_by("pk"), use_natural_foreign_keys=True, use_natural_primary_keys=True
        )
        for row in rows:
            row["fields"] = {k: v for k, v in row["fields"].items() if f"{row['model']}.{k}" not in omitted}
        objects.extend(rows)
    return json.loads(json.dumps(objects, cls=DjangoJSONEncoder))


def change_site_data() -> dict:
    """Edits through the models' own API: a host relabelled, a host deleted, a rule renamed."""
    from hosts.models import CustomAttributeRule, Host

    host = Host.objects.get(hostname="web1.example.com")
    host.update_host({"role": "db"})
    host.save()
    Host.objects.get(hostname="web4.example.com").delete()
    rule = CustomAttributeRule.objects.get()
    rule.name = "tag web hosts"
    rule.save()
    return site_counts()


def tracker_admin(username: str = "boss", password: str = "pw-Secret-123") -> str:  # noqa: S107
    """A superuser (tracker class admin) that can sign in on this site."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    if not user_model.objects.filter(username=username).exists():
        user_model.objects.create_superuser(username, f"{username}@example.com", password)
    return username


def sync_runs() -> list:
    """This site's pull history, oldest first: [url, outcome, error] per run."""
    from synctools.models import SyncRun

    return [list(row) for row in SyncRun.objects.order_by("id").values_list("state__url", "outcome", "error")]


def tracker_publish(path: str, origin: str, comment: str = "") -> dict:
    from tracker import services as tracker_services

    return tracker_services.publish(path, origin=origin, author="alice", comment=comment)


def tracker_delete(ids: list) -> list:
    from tracker import services as tracker_services

    return tracker_services.delete_nodes(ids)


def delete_host(name: str) -> int:
    from hosts.models import Host

    return Host.objects.filter(hostname=name).delete()[0]


def prune_change_log() -> int:
    """Forget every change record (as a retention of zero would): older cursors now need a full pull."""
    from datetime import timedelta

    from syncsite import changes

    return changes.prune(timedelta(seconds=-1))


def bulk_change_site_data() -> dict:
    """Writes that send no signals: a bulk update of hosts, raw SQL on a node, a bulk delete of a file."""
    from django.db import connection

    from hosts.models import Host
    from tracker import services as tracker_services

    Host.objects.filter(hostname="web2.example.com").update(disabled=True)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE tracker_node SET sync_priority = 7 WHERE node_id = %s", ["/projects/shot2.exr"])
    tracker_services.delete_nodes(["/projects/shot3.exr"])
    return site_counts()


def site_keys() -> dict:
    """What the replication tests compare: host names with their disabled flag, tracker nodes and states."""
    from hosts.models import Host
    from tracker.models import Node, SiteState

    return {
        "hosts": sorted([h.hostname, h.disabled] for h in Host.objects.all()),
        "nodes": sorted([n.node_id, n.sync_priority] for n in Node.objects.filter(kind__in=["file", "volume"])),
        "states": sorted([s.path, s.site] for s in SiteState.objects.all()),
    }
