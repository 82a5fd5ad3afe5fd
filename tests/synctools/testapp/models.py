from django.db import models


class PublisherManager(models.Manager):
    def get_by_natural_key(self, name):
        return self.get(name=name)


class Publisher(models.Model):
    """Has a natural key: replicated by name, whatever its local id."""

    name = models.CharField(max_length=100, unique=True)
    city = models.CharField(max_length=100, blank=True)

    objects = PublisherManager()

    def __str__(self):
        return self.name

    def natural_key(self):
        return (self.name,)


class Author(models.Model):
    name = models.CharField(max_length=100)
    mentor = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="mentees")
    publisher = models.ForeignKey(Publisher, null=True, blank=True, on_delete=models.PROTECT)

    def __str__(self):
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    def __str__(self):
        return self.name


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    tags = models.ManyToManyField(Tag, blank=True, related_name="books")
    price = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    rating = models.FloatField(null=True, blank=True)
    published = models.DateField(null=True, blank=True)
    updated = models.DateTimeField(auto_now=True)
    cover = models.ImageField(upload_to="covers/", blank=True)
    attachment = models.FileField(upload_to="attachments/", blank=True)

    def __str__(self):
        return self.title


class TripwireField(models.CharField):
    """Fails to serialise the value "explode": makes a server error happen in the middle of a reply."""

    def value_from_object(self, obj):
        value = super().value_from_object(obj)
        if value == "explode":
            raise RuntimeError("tripwire: serialisation failed on purpose")
        return value


class Tripwire(models.Model):
    value = TripwireField(max_length=20)

    def __str__(self):
        return self.value
