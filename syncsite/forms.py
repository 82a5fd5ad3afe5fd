"""Form helpers shared by the apps' admin pages."""

from __future__ import annotations

from django import forms


class SecretInput(forms.PasswordInput):
    """A password box that never renders the stored value back to the browser."""

    def __init__(self, attrs=None):
        super().__init__(attrs={"autocomplete": "new-password", **(attrs or {})}, render_value=False)


class SecretFieldMixin:
    """ModelForm mixin: secret fields are write-only; leaving them blank keeps the stored value.

    Set `secret_fields = ("password",)` on the form.
    """

    secret_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.secret_fields:
            if name in self.fields:
                field = self.fields[name]
                field.widget = SecretInput()
                field.required = False
                has_value = bool(self.instance.pk and getattr(self.instance, name))
                field.help_text = "Stored encrypted. Leave blank to keep the current value." if has_value else ""

    def clean(self):
        cleaned = super().clean()
        for name in self.secret_fields:
            if name in cleaned and not cleaned[name] and self.instance.pk:
                cleaned[name] = getattr(self.instance, name)
        return cleaned
