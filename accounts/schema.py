"""How drf-spectacular describes our authentication in the OpenAPI document."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.TokenAuthentication"
    name = ["bearerAuth", "xRayAuthorization", "xAuthToken", "xApiKey", "apiKeyQuery"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <token>"},
            {"type": "apiKey", "in": "header", "name": "X-Ray-Authorization",
             "description": "Bearer <token> (Ray's header for proxies)"},
            {"type": "apiKey", "in": "header", "name": "X-AUTH-TOKEN"},
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            {"type": "apiKey", "in": "query", "name": "api_key"},
        ]


class SessionAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.SessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
