"""Routes over the test app, served by the source site under /test/sync/."""

from synctools.routing import Route
from tests.synctools.testapp.models import Author, Book, Publisher, Tag, Tripwire

route = Route()
route.app("library", "synctools_testapp")


@route.queryset("children-first", models=[Book, Author, Publisher, Tag])
def children_first():
    """Children before parents on purpose: the client must still load it (constraints are deferred)."""
    return [Book.objects.order_by("pk"), Author.objects.order_by("pk"), Publisher.objects.all(), Tag.objects.all()]


@route.queryset("orphans")
def orphans():
    """Books without their authors: the client must refuse it as a whole."""
    return Book.objects.order_by("pk")


@route.queryset("tripwire")
def tripwire():
    """Many good rows, then one that fails to serialise: a server error in the middle of the reply."""
    return [Publisher.objects.all(), Author.objects.order_by("pk"), Tripwire.objects.order_by("pk")]


@route.queryset(r"authors/(?P<name>[^/]+)")
def authors_named(name):
    return [Publisher.objects.all(), Author.objects.filter(name=name, mentor__isnull=True)]


route.app(
    "library-public",
    "synctools_testapp",
    exclude=["synctools_testapp.Tripwire"],
    omit_fields=["synctools_testapp.Publisher.city"],
    incremental=False,
)
