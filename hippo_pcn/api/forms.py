from django import forms

from .services import LIFETIME_DAYS


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label="Name",
        help_text="What the token is for, so you can tell your tokens apart. For example, "
        "“Rota spreadsheet”.",
        max_length=100,
        error_messages={
            "required": "Enter a name for the token",
            "max_length": "The name must be 100 characters or fewer",
        },
    )
    days = forms.TypedChoiceField(
        label="How long should it work?",
        choices=[(days, f"{days} days") for days in LIFETIME_DAYS],
        coerce=int,
        initial=30,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose how long the token should work",
            "invalid_choice": "Choose how long the token should work",
        },
    )

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Enter a name for the token")
        return name
