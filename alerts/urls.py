from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="alerts"),
    path("<int:pk>/", views.edit, name="alert-edit"),
    path("<int:pk>/delete/", views.delete, name="alert-delete"),
]
