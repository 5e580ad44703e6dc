from apps.calculations.api.row_policy_preview import RowPolicyPreviewView
from apps.core.urls import path_optional_slash

urlpatterns = [
    path_optional_slash(r"row-policies/preview/", RowPolicyPreviewView.as_view(), name="row-policy-preview"),
]
