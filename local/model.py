"""What the local stack serves, read from the template once its resources exist.

`build_model` answers: which functions (handler, code, layers, environment, limits), which
REST routes, which WebSocket routes and how frames are routed, which queues feed which
functions. Everything comes from the template; nothing here names a route or a table.
"""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.intrinsics import NO_VALUE, Resolver, scalar_string
from local.template import FUNCTION_TYPE, function_events, resources_of_type, serverless_functions

log = logging.getLogger("local")

_REST_API_TYPES = ("AWS::Serverless::Api", "AWS::ApiGateway::RestApi")
_LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
_FUNCTION_ARN = re.compile(r"(arn:[^:]+:lambda:[^:]+:\d+:function:[^/:]+)")
IMPLICIT_REST_API = "ServerlessRestApi"  # SAM's API for Api events without RestApiId


@dataclass
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    handler: str
    runtime: str
    code_dir: Path
    layer_paths: list[Path]
    environment: dict[str, str]
    timeout: int
    memory: int
    reserved_concurrency: int | None


@dataclass
class RestRoute:
    path: str  # the resource, e.g. /rooms/{room_id}
    method: str  # GET, POST … or ANY
    function: str  # logical id


@dataclass
class RestApiSpec:
    api_id: str
    stage: str
    routes: list[RestRoute]
    cors: dict[str, str] | None  # Access-Control-* headers of the OPTIONS answers
    gateway_headers: dict[str, dict[str, str]]  # DEFAULT_4XX / DEFAULT_5XX / … -> headers


@dataclass
class WebSocketRoute:
    route_key: str
    function: str  # logical id
    two_way: bool  # RouteResponseSelectionExpression set: the function's body goes back


@dataclass
class WebSocketApiSpec:
    api_id: str
    stage: str
    route_selection_expression: str
    routes: dict[str, WebSocketRoute]


@dataclass
class SqsSourceSpec:
    function: str  # logical id
    queue_logical_id: str
    queue_url: str
    queue_arn: str
    fifo: bool
    batch_size: int
    batching_window: float
    report_batch_item_failures: bool
    maximum_concurrency: int | None


@dataclass
class StackModel:
    functions: dict[str, FunctionSpec]
    rest_api: RestApiSpec | None
    websocket_api: WebSocketApiSpec | None
    sqs_sources: list[SqsSourceSpec]
    warnings: list[str] = field(default_factory=list)


def build_model(template: dict[str, Any], resolver: Resolver, base_dir: Path) -> StackModel:
    warnings = [
        f"{logical_id}: AWS::Lambda::Function is not run locally (use {FUNCTION_TYPE} with a CodeUri)"
        for logical_id in resources_of_type(template, "AWS::Lambda::Function")
    ]
    functions = _functions(template, resolver, base_dir, warnings)
    return StackModel(
        functions=functions,
        rest_api=_rest_api(template, resolver, functions, warnings),
        websocket_api=_websocket_api(template, resolver, functions, warnings),
        sqs_sources=_sqs_sources(template, resolver, functions, warnings),
        warnings=warnings,
    )


# ---------------------------------------------------------------------- functions
def _functions(
    template: dict[str, Any], resolver: Resolver, base_dir: Path, warnings: list[str]
) -> dict[str, FunctionSpec]:
    layers_by_arn = {
        resolver.physical[logical_id].ref: logical_id
        for logical_id in resources_of_type(template, _LAYER_TYPES[0])
        | resources_of_type(template, _LAYER_TYPES[1])
        if logical_id in resolver.physical
    }
    specs: dict[str, FunctionSpec] = {}
    for logical_id, properties in serverless_functions(template).items():
        if not resolver.is_created(logical_id):
            continue
        code_uri = properties.get("CodeUri")
        if properties.get("PackageType") == "Image" or not isinstance(code_uri, str):
            warnings.append(
                f"{logical_id}: only a local CodeUri directory can run locally; skipped"
            )
            continue
        layer_paths: list[Path] = []
        for layer in resolver.resolve(properties.get("Layers") or []):
            layer_id = layers_by_arn.get(layer)
            if layer_id is None:
                warnings.append(
                    f"{logical_id}: layer {layer} is not in the template; its packages must be in the venv"
                )
                continue
            layer_properties = template["Resources"][layer_id].get("Properties") or {}
            content = layer_properties.get("ContentUri")
            if isinstance(content, str):
                layer_paths += layer_import_paths(base_dir / content)
        variables = ((properties.get("Environment") or {}).get("Variables")) or {}
        environment = {
            name: scalar_string(value) for name, value in resolver.resolve(variables).items()
        }
        reserved = resolver.resolve(properties.get("ReservedConcurrentExecutions"))
        reserved = None if reserved is NO_VALUE else reserved  # !If [..., !Ref AWS::NoValue]
        physical = resolver.physical[logical_id]
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            name=physical.ref,
            arn=physical.attributes["Arn"],
            handler=resolver.resolve(properties["Handler"]),
            runtime=resolver.resolve(properties.get("Runtime", "python3")),
            code_dir=(base_dir / code_uri).resolve(),
            layer_paths=layer_paths,
            environment=environment,
            timeout=int(resolver.resolve(properties.get("Timeout", 3))),
            memory=int(resolver.resolve(properties.get("MemorySize", 128))),
            reserved_concurrency=int(reserved) if reserved is not None else None,
        )
    return specs


def layer_import_paths(content_dir: Path) -> list[Path]:
    """Where a layer's Python code is: python/ (and its site-packages) as Lambda extracts it
    to /opt, or the directory itself when a build step copies it to python/ (BuildMethod:
    makefile). A layer with no Python source (a requirements file built into the layer)
    adds nothing: those packages come from the venv locally."""
    content_dir = content_dir.resolve()
    python = content_dir / "python"
    if python.is_dir():
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        return [python, *[p for p in [python / "lib" / version / "site-packages"] if p.is_dir()]]
    has_source = any(
        child.suffix == ".py" or (child / "__init__.py").is_file()
        for child in content_dir.iterdir()
    )
    return [content_dir] if has_source else []


# ---------------------------------------------------------------------- REST
def _rest_api(
    template: dict[str, Any],
    resolver: Resolver,
    functions: dict[str, FunctionSpec],
    warnings: list[str],
) -> RestApiSpec | None:
    apis: dict[str, list[RestRoute]] = {}
    for logical_id, properties in serverless_functions(template).items():
        if logical_id not in functions:
            continue
        for event in function_events(properties, "Api").values():
            api = event.get("RestApiId")
            api_id = resolver.resolve(api) if api is not None else IMPLICIT_REST_API
            method = str(event.get("Method", "any")).upper()
            route = RestRoute(
                path=resolver.resolve(event["Path"]), method=method, function=logical_id
            )
            apis.setdefault(api_id, []).append(route)
        for event_name in function_events(properties, "HttpApi"):
            warnings.append(f"{logical_id}.{event_name}: HttpApi events are not served locally")
    if not apis:
        return None
    by_ref = {
        resolver.physical[logical_id].ref: logical_id
        for api_type in _REST_API_TYPES
        for logical_id in resources_of_type(template, api_type)
        if logical_id in resolver.physical
    }
    api_id, routes = next(iter(apis.items()))
    if len(apis) > 1:
        warnings.append("several REST APIs: all their routes are served on the one local REST port")
        routes = [route for api_routes in apis.values() for route in api_routes]
    logical_id = by_ref.get(api_id)
    properties = template["Resources"][logical_id].get("Properties") or {} if logical_id else {}
    stage = scalar_string(resolver.resolve(properties.get("StageName", "Prod")))
    return RestApiSpec(
        api_id=api_id if logical_id else "localrestapi",
        stage=stage,
        routes=routes,
        cors=_cors(resolver.resolve(properties.get("Cors"))) if properties.get("Cors") else None,
        gateway_headers=_gateway_headers(
            resolver.resolve(properties.get("GatewayResponses") or {})
        ),
    )


def _unquote(value: Any) -> str:
    text = scalar_string(value)
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text


def _cors(cors: Any) -> dict[str, str]:
    """SAM's Cors property as the headers its OPTIONS methods answer with."""
    if isinstance(cors, str):
        cors = {"AllowOrigin": cors}
    headers = {"Access-Control-Allow-Origin": _unquote(cors["AllowOrigin"])}
    for key, header in (
        ("AllowMethods", "Access-Control-Allow-Methods"),
        ("AllowHeaders", "Access-Control-Allow-Headers"),
        ("MaxAge", "Access-Control-Max-Age"),
    ):
        if key in cors:
            headers[header] = _unquote(cors[key])
    if cors.get("AllowCredentials"):
        headers["Access-Control-Allow-Credentials"] = "true"
    headers.setdefault("Access-Control-Allow-Methods", "DELETE,GET,HEAD,OPTIONS,PATCH,POST,PUT")
    return headers


def _gateway_headers(responses: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        response_type: {
            name: _unquote(value)
            for name, value in (
                (response.get("ResponseParameters") or {}).get("Headers") or {}
            ).items()
        }
        for response_type, response in responses.items()
    }


# ---------------------------------------------------------------------- WebSocket
def _websocket_api(
    template: dict[str, Any],
    resolver: Resolver,
    functions: dict[str, FunctionSpec],
    warnings: list[str],
) -> WebSocketApiSpec | None:
    apis = {
        logical_id: resource
        for logical_id, resource in resources_of_type(template, "AWS::ApiGatewayV2::Api").items()
        if resolver.is_created(logical_id)
        and (resource.get("Properties") or {}).get("ProtocolType") == "WEBSOCKET"
    }
    if not apis:
        return None
    if len(apis) > 1:
        warnings.append(f"several WebSocket APIs: only {next(iter(apis))} is served")
    api_logical_id, api = next(iter(apis.items()))
    api_id = resolver.physical[api_logical_id].ref
    function_by_arn = {spec.arn: logical_id for logical_id, spec in functions.items()}

    def parts(part_type: str, *keys: str) -> dict[str, dict[str, Any]]:
        """The API's routes, integrations or stages, with only the properties read here resolved."""
        found = {}
        for logical_id, resource in resources_of_type(template, part_type).items():
            properties = resource.get("Properties") or {}
            if (
                resolver.is_created(logical_id)
                and resolver.resolve(properties.get("ApiId")) == api_id
            ):
                found[logical_id] = {
                    key: resolver.resolve(properties[key]) for key in keys if key in properties
                }
        return found

    integrations: dict[str, str] = {}  # integration id -> function logical id
    for logical_id, properties in parts("AWS::ApiGatewayV2::Integration", "IntegrationUri").items():
        match = _FUNCTION_ARN.search(str(properties.get("IntegrationUri", "")))
        function = function_by_arn.get(match.group(1)) if match else None
        if function is None:
            warnings.append(
                f"{logical_id}: integration target is not a local function; its routes are not served"
            )
            continue
        integrations[resolver.physical[logical_id].ref] = function
    routes: dict[str, WebSocketRoute] = {}
    for logical_id, properties in parts(
        "AWS::ApiGatewayV2::Route", "RouteKey", "Target", "RouteResponseSelectionExpression"
    ).items():
        target = str(properties.get("Target", ""))
        function = integrations.get(target.removeprefix("integrations/"))
        if function is None:
            warnings.append(
                f"{logical_id}: route {properties.get('RouteKey')} has no local integration"
            )
            continue
        routes[properties["RouteKey"]] = WebSocketRoute(
            route_key=properties["RouteKey"],
            function=function,
            two_way=bool(properties.get("RouteResponseSelectionExpression")),
        )
    stages = [
        properties["StageName"]
        for properties in parts("AWS::ApiGatewayV2::Stage", "StageName").values()
    ]
    return WebSocketApiSpec(
        api_id=api_id,
        stage=scalar_string(stages[0]) if stages else "$default",
        route_selection_expression=resolver.resolve(
            (api.get("Properties") or {}).get("RouteSelectionExpression", "$request.body.action")
        ),
        routes=routes,
    )


# ---------------------------------------------------------------------- SQS event sources
def _sqs_sources(
    template: dict[str, Any],
    resolver: Resolver,
    functions: dict[str, FunctionSpec],
    warnings: list[str],
) -> list[SqsSourceSpec]:
    queue_by_arn = {
        physical.attributes["Arn"]: logical_id
        for logical_id, physical in resolver.physical.items()
        if template["Resources"][logical_id]["Type"] == "AWS::SQS::Queue"
    }
    sources: list[tuple[str, dict[str, Any]]] = []
    for logical_id, properties in serverless_functions(template).items():
        if logical_id in functions:
            sources += [
                (logical_id, event) for event in function_events(properties, "SQS").values()
            ]
    function_by_name = {spec.name: logical_id for logical_id, spec in functions.items()}
    function_by_name.update({spec.arn: logical_id for logical_id, spec in functions.items()})
    for logical_id, resource in resources_of_type(
        template, "AWS::Lambda::EventSourceMapping"
    ).items():
        if not resolver.is_created(logical_id):
            continue
        properties = resource.get("Properties") or {}
        function = function_by_name.get(resolver.resolve(properties.get("FunctionName")))
        if function is not None:
            sources.append((function, {**properties, "Queue": properties.get("EventSourceArn")}))

    specs = []
    for function, event in sources:
        event = resolver.resolve(event)
        queue = queue_by_arn.get(event.get("Queue"))
        if queue is None:
            warnings.append(
                f"{function}: event source {event.get('Queue')} is not a queue of this template"
            )
            continue
        if event.get("Enabled") is False:
            continue
        if event.get("FilterCriteria"):
            warnings.append(
                f"{function}: FilterCriteria of its SQS event source are ignored locally"
            )
        physical = resolver.physical[queue]
        queue_properties = template["Resources"][queue].get("Properties") or {}
        specs.append(
            SqsSourceSpec(
                function=function,
                queue_logical_id=queue,
                queue_url=physical.ref,
                queue_arn=physical.attributes["Arn"],
                fifo=bool(resolver.resolve(queue_properties.get("FifoQueue", False))),
                batch_size=int(event.get("BatchSize", 10)),
                batching_window=float(event.get("MaximumBatchingWindowInSeconds", 0)),
                report_batch_item_failures="ReportBatchItemFailures"
                in (event.get("FunctionResponseTypes") or []),
                maximum_concurrency=_int_or_none(
                    (event.get("ScalingConfig") or {}).get("MaximumConcurrency")
                ),
            )
        )
    return specs


def _int_or_none(value: Any) -> int | None:
    """A number property that may be a parameter's value (a string), or None."""
    return None if value is None else int(value)
