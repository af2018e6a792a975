from django.urls import path

from . import selfbook_views as views

app_name = "selfbook"

urlpatterns = [
    path("<str:token>/", views.start, name="start"),
    path("<str:token>/book/", views.book, name="book"),
    path("<str:token>/confirmed/", views.confirmed, name="confirmed"),
    path("<str:token>/change/", views.change, name="change"),
    path("<str:token>/cancel/", views.cancel, name="cancel"),
    path("<str:token>/decline/", views.decline, name="decline"),
]
