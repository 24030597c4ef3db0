"""/methodologies: filing (备案) and approving methodology versions."""
import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from accounting.errors import DomainError
from accounting.quantification import methodologies
from api.actor import current_actor, roles_required
from api.bureau.methodology_schemas import (
    PARAMETER_SCHEMAS,
    ApprovalSchema,
    MethodologyCreateSchema,
    MethodologyListSchema,
    MethodologySchema,
    VersionCreateSchema,
    VersionSchema,
)
from api.idempotency import idempotent

blp = Blueprint("methodologies", __name__, url_prefix="/api/v1/methodologies",
                description="方法学备案: filed methodologies and their versions")

SIGNED_IN = [{"bearerAuth": []}]
anyone_signed_in = roles_required("resident", "merchant_staff", "auditor", "admin")
bureau_only = roles_required("auditor", "admin")


@blp.route("")
class Methodologies(MethodView):
    @anyone_signed_in
    @blp.response(200, MethodologyListSchema)
    @blp.doc(security=SIGNED_IN, operationId="list_methodologies")
    def get(self):
        """Every methodology with its versions, factors and sources (public to signed-in users)."""
        return {"items": methodologies.all_methodologies()}

    @bureau_only
    @idempotent
    @blp.arguments(MethodologyCreateSchema())
    @blp.response(201, MethodologySchema)
    @blp.doc(security=SIGNED_IN, operationId="create_methodology")
    def post(self, args):
        """File a new methodology (auditors); its versions follow."""
        return methodologies.create_methodology(**args)


@blp.route("/<integer_id:methodology_id>")
class OneMethodology(MethodView):
    @anyone_signed_in
    @blp.response(200, MethodologySchema)
    @blp.doc(security=SIGNED_IN, operationId="get_methodology")
    def get(self, methodology_id):
        """One methodology and its versions."""
        return methodologies.methodology(methodology_id)


@blp.route("/<integer_id:methodology_id>/versions")
class Versions(MethodView):
    @bureau_only
    @idempotent
    @blp.arguments(VersionCreateSchema())
    @blp.response(201, VersionSchema)
    @blp.doc(security=SIGNED_IN, operationId="draft_methodology_version")
    def post(self, args, methodology_id):
        """Draft a new version; its parameters must fit the methodology's kind."""
        kind = methodologies.methodology(methodology_id).kind
        try:
            parameters = PARAMETER_SCHEMAS[kind].load(args["parameters"])
        except ma.ValidationError as error:
            raise DomainError("validation_failed", errors={"parameters": error.messages}) from None
        return methodologies.draft_version(
            methodology_id, parameters, args["sources"], args["effective_from"], args["effective_to"],
            current_actor().user_id,
        )


def _transition(action):
    """A view for POST …/versions/{v}/{action}: file, approve, retire."""

    @bureau_only
    @blp.arguments(ApprovalSchema(), required=False)
    @blp.response(200, VersionSchema)
    @blp.doc(security=SIGNED_IN, operationId=f"{action}_methodology_version")
    def post(self, args, methodology_id, number):
        actor = current_actor().user_id
        if action == "approve":
            return methodologies.approve_version(methodology_id, number, actor, args.get("note"))
        return getattr(methodologies, f"{action}_version")(methodology_id, number, actor)

    post.__doc__ = {
        "file": "File a draft for approval (备案).",
        "approve": "Approve a filed version; the approver must not be the one who filed it.",
        "retire": "Retire an approved version.",
    }[action]
    return type(f"Version{action.title()}", (MethodView,), {"post": post})


for _action in ("file", "approve", "retire"):
    blp.route(f"/<integer_id:methodology_id>/versions/<integer_id:number>/{_action}")(_transition(_action))
