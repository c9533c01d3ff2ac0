"""What the local stack serves, read from the template through SAM CLI once its resources exist.

`build_model` answers: which functions (handler, code, layers, environment, limits), which
REST routes, which WebSocket routes and how frames are routed, which queues feed which
functions. SAM CLI's own providers read the template as `sam local` does (Globals, intrinsics,
layers, the REST API's routes, stage and CORS); the symbol table of `local.symbols` makes
every `Ref`/`Fn::GetAtt` the local resource's name, URL or ARN. What they do not model is read
here from the template SAM CLI resolved: the WebSocket API (ApiGatewayV2 WEBSOCKET), the SQS
and DynamoDB Stream event sources, gateway responses, reserved concurrency. Nothing here names a route or a table.
"""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samcli.lib.providers.api_provider import ApiProvider
from samcli.lib.providers.provider import Api, Cors, Function, Stack
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
from samcli.lib.samlib.resource_metadata_normalizer import ResourceMetadataNormalizer
from samcli.lib.samlib.wrapper import SamTranslatorWrapper
from samcli.local.apigw.route import Route

from local.symbols import Resolver, TemplateError, scalar_string
from local.template import TEMPLATE_PATH

log = logging.getLogger("local")

_REST_API_TYPES = ("AWS::Serverless::Api", "AWS::ApiGateway::RestApi")
# A Lambda function's ARN, and its qualifier if any (an alias, a version, $LATEST).
_FUNCTION_ARN = re.compile(r"(arn:[^:]+:lambda:[^:]+:\d+:function:[^/:]+)(?::([^/:]+))?")


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
    alias: str | None = None  # AutoPublishAlias: the local function answers for it too


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
    # response type -> (StatusCode, the application/json ResponseTemplate), where set
    gateway_answers: dict[str, tuple[int | None, str | None]] = field(default_factory=dict)


@dataclass
class WebSocketAuthorizer:
    """A Lambda REQUEST authorizer of the WebSocket API (it guards `$connect` only)."""

    authorizer_id: str
    function: str  # logical id
    identity_sources: list[str]  # e.g. route.request.querystring.token


@dataclass
class WebSocketRoute:
    route_key: str
    function: str  # logical id
    two_way: bool  # RouteResponseSelectionExpression set: the function's body goes back
    authorizer: WebSocketAuthorizer | None = None  # AuthorizationType CUSTOM


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
class StreamSourceSpec:
    """A DynamoDB Stream event source (a function's `DynamoDB` event or a mapping)."""

    function: str  # logical id
    function_arn: str
    table_logical_id: str
    stream_arn: str
    starting_position: str  # TRIM_HORIZON or LATEST
    batch_size: int
    batching_window: float
    report_batch_item_failures: bool
    bisect_on_error: bool
    maximum_retry_attempts: int | None  # None: until the records expire
    on_failure_queue_url: str | None  # the on-failure destination, an SQS queue here


@dataclass
class StackModel:
    functions: dict[str, FunctionSpec]
    rest_api: RestApiSpec | None
    websocket_api: WebSocketApiSpec | None
    sqs_sources: list[SqsSourceSpec]
    stream_sources: list[StreamSourceSpec] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class _ResolvedStack(Stack):
    """A SAM CLI stack whose resources are resolved with the local stack's symbols: what
    `Stack.resources` does (SAM's plugins: Globals, implicit APIs …), with our symbol table."""

    resolver: Resolver

    @property
    def resources(self) -> dict[str, Any]:
        if self._resources is None:
            template = SamTranslatorWrapper(
                self.template_dict, parameter_values=dict(self.resolver.symbols.values)
            ).run_plugins()
            ResourceMetadataNormalizer.normalize(template)
            self._resources = {}
            for logical_id, resource in template.get("Resources", {}).items():
                if logical_id in self.resolver.template["Resources"] and not (
                    self.resolver.is_created(logical_id)
                ):
                    continue
                self._resources[logical_id] = self.resolver.resolve_leniently(resource)
        return self._resources


def load_stack(template_path: Path, resolver: Resolver, warnings: list[str]) -> Stack:
    """The template as SAM CLI reads it (SamLocalStackProvider), resolved with our symbols."""
    stacks, remote = SamLocalStackProvider.get_stacks(
        str(template_path), parameter_overrides=dict(resolver.symbols.values)
    )
    root = SamLocalStackProvider.find_root_stack(stacks)
    if len(stacks) > 1 or remote:
        warnings.append("nested stacks are not served locally")
    stack = _ResolvedStack(
        root.parent_stack_path, root.name, root.location, root.parameters, root.template_dict
    )
    stack.resolver = resolver
    return stack


def build_model(template_path: Path, resolver: Resolver) -> StackModel:
    warnings: list[str] = []
    stack = load_stack(template_path, resolver, warnings)
    functions = _functions(stack, resolver, warnings)
    return StackModel(
        functions=functions,
        rest_api=_rest_api(stack, resolver, functions, warnings),
        websocket_api=_websocket_api(stack, resolver, functions, warnings),
        sqs_sources=_sqs_sources(stack, resolver, functions, warnings),
        stream_sources=_stream_sources(stack, resolver, functions, warnings),
        outputs=_outputs(resolver),
        warnings=warnings,
    )


def _of_type(stack: Stack, *types: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource.get("Properties") or {}
        for logical_id, resource in stack.resources.items()
        if resource.get("Type") in types
    }


# ---------------------------------------------------------------------- functions
def _functions(stack: Stack, resolver: Resolver, warnings: list[str]) -> dict[str, FunctionSpec]:
    specs: dict[str, FunctionSpec] = {}
    provider = SamFunctionProvider([stack], ignore_code_extraction_warnings=True)
    for function in provider.get_all():
        properties = stack.resources[function.function_id].get("Properties") or {}
        code = properties.get("CodeUri", properties.get("Code"))
        if function.packagetype != "Zip" or not isinstance(code, str) or not function.handler:
            warnings.append(
                f"{function.function_id}: only a local CodeUri directory can run locally; skipped"
            )
            continue
        specs[function.function_id] = _function_spec(function, properties, resolver, warnings)
    return specs


def _function_spec(
    function: Function, properties: dict[str, Any], resolver: Resolver, warnings: list[str]
) -> FunctionSpec:
    layer_paths: list[Path] = []
    for layer in function.layers:
        if not layer.is_defined_within_template:
            warnings.append(
                f"{function.function_id}: layer {layer.arn} is not in the template; its packages must be in the venv"
            )
            continue
        layer_paths += layer_import_paths(Path(layer.codeuri))
    environment = {}
    for name, value in ((function.environment or {}).get("Variables") or {}).items():
        if isinstance(value, dict | list):
            raise TemplateError(f"{function.function_id}: cannot resolve {name}={value}")
        environment[name] = scalar_string(value)
    physical = resolver.symbols.physical[function.function_id]
    reserved = properties.get("ReservedConcurrentExecutions")
    return FunctionSpec(
        logical_id=function.function_id,
        name=physical.ref,
        arn=physical.attributes["Arn"],
        handler=function.handler or "",
        runtime=function.runtime or "python3",
        code_dir=Path(function.codeuri or ".").resolve(),
        layer_paths=layer_paths,
        environment=environment,
        timeout=int(function.timeout or 3),
        memory=int(function.memory or 128),
        reserved_concurrency=int(reserved) if reserved is not None else None,
        alias=resolver.symbols.alias_name(function.function_id)
        if properties.get("AutoPublishAlias")
        else None,
    )


def _invoked_function(reference: Any, functions: dict[str, FunctionSpec]) -> str | None:
    """The local function that a function name or ARN (alone, or in an integration's URI)
    invokes: unqualified, `$LATEST`, or qualified by the function's alias, which deployed is
    a published version of the same code. Another qualifier names nothing served here."""
    text = str(reference or "")
    match = _FUNCTION_ARN.search(text)
    if match:
        target, qualifier = match.groups()
    else:  # a function's name, maybe qualified as `name:alias`
        target, _, qualifier = text.partition(":")
    for logical_id, spec in functions.items():
        if target in (spec.arn, spec.name) and qualifier in (None, "", "$LATEST", spec.alias):
            return logical_id
    return None


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
def rest_routes(stack: Stack, warnings: list[str]) -> tuple[Api, list[RestRoute]]:
    """The REST routes SAM CLI's ApiProvider reads (implicit and explicit APIs, Swagger …)."""
    api = ApiProvider([stack]).api
    routes = []
    for route in api.routes:
        if route.event_type != Route.API:
            warnings.append(f"{route.function_name} {route.path}: HttpApi events are not served")
            continue
        for method in route.methods:
            if method != "OPTIONS" or api.cors is None:  # SAM CLI adds OPTIONS for CORS
                routes.append(RestRoute(route.path, method, route.function_name))
    return api, sorted(routes, key=lambda route: (route.path, route.method))


def template_rest_routes(template_path: Path = TEMPLATE_PATH) -> list[RestRoute]:
    """The REST routes of a template as `sam local start-api` reads them (for the tests)."""
    stacks, _ = SamLocalStackProvider.get_stacks(str(template_path))
    return rest_routes(SamLocalStackProvider.find_root_stack(stacks), [])[1]


def _rest_api(
    stack: Stack, resolver: Resolver, functions: dict[str, FunctionSpec], warnings: list[str]
) -> RestApiSpec | None:
    api, routes = rest_routes(stack, warnings)
    routes = [route for route in routes if route.function in functions]
    if not routes:
        return None
    apis = _of_type(stack, *_REST_API_TYPES)
    if len(apis) > 1:
        warnings.append("several REST APIs: all their routes are served on the one local REST port")
    logical_id, properties = next(iter(apis.items()), ("", {}))
    physical = resolver.symbols.physical.get(logical_id)
    return RestApiSpec(
        api_id=physical.ref if physical else "localrestapi",
        stage=scalar_string(api.stage_name or "Prod"),
        routes=routes,
        cors=_cors(api.cors),
        gateway_headers=_gateway_headers(properties.get("GatewayResponses") or {}),
        gateway_answers=_gateway_answers(properties.get("GatewayResponses") or {}),
    )


def _cors(cors: Cors | None) -> dict[str, str] | None:
    """SAM CLI's Cors as the headers the OPTIONS methods answer with."""
    if cors is None:
        return None
    headers = Cors.cors_to_headers(cors, None, Route.API)
    return {name: scalar_string(value) for name, value in headers.items()}


def _unquote(value: Any) -> str:
    text = scalar_string(value)
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text


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


def _gateway_answers(responses: dict[str, Any]) -> dict[str, tuple[int | None, str | None]]:
    answers: dict[str, tuple[int | None, str | None]] = {}
    for response_type, response in responses.items():
        status = response.get("StatusCode")
        template = (response.get("ResponseTemplates") or {}).get("application/json")
        if status is not None or template is not None:
            answers[response_type] = (int(status) if status is not None else None, template)
    return answers


# ---------------------------------------------------------------------- WebSocket
def _websocket_api(
    stack: Stack, resolver: Resolver, functions: dict[str, FunctionSpec], warnings: list[str]
) -> WebSocketApiSpec | None:
    """SAM CLI's ApiProvider serves HTTP APIs only: the WEBSOCKET API is read here."""
    apis = {
        logical_id: properties
        for logical_id, properties in _of_type(stack, "AWS::ApiGatewayV2::Api").items()
        if properties.get("ProtocolType") == "WEBSOCKET"
    }
    if not apis:
        return None
    if len(apis) > 1:
        warnings.append(f"several WebSocket APIs: only {next(iter(apis))} is served")
    api_logical_id, api = next(iter(apis.items()))
    api_id = resolver.symbols.physical[api_logical_id].ref

    def parts(part_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: properties
            for logical_id, properties in _of_type(stack, part_type).items()
            if properties.get("ApiId") == api_id
        }

    authorizers: dict[str, WebSocketAuthorizer] = {}  # authorizer id -> authorizer
    for logical_id, properties in parts("AWS::ApiGatewayV2::Authorizer").items():
        function = _invoked_function(properties.get("AuthorizerUri"), functions)
        if properties.get("AuthorizerType") != "REQUEST" or function is None:
            warnings.append(f"{logical_id}: only a local Lambda REQUEST authorizer is served")
            continue
        authorizer_id = resolver.symbols.physical[logical_id].ref
        sources = properties.get("IdentitySource") or []
        authorizers[authorizer_id] = WebSocketAuthorizer(
            authorizer_id, function, [sources] if isinstance(sources, str) else list(sources)
        )
    integrations: dict[str, str] = {}  # integration id -> function logical id
    for logical_id, properties in parts("AWS::ApiGatewayV2::Integration").items():
        function = _invoked_function(properties.get("IntegrationUri"), functions)
        if function is None:
            warnings.append(
                f"{logical_id}: target is not a local function (or its alias); its routes are not served"
            )
            continue
        integrations[resolver.symbols.physical[logical_id].ref] = function
    routes: dict[str, WebSocketRoute] = {}
    for logical_id, properties in parts("AWS::ApiGatewayV2::Route").items():
        key = properties.get("RouteKey")
        function = integrations.get(str(properties.get("Target", "")).removeprefix("integrations/"))
        if function is None:
            warnings.append(f"{logical_id}: route {key} has no local integration")
            continue
        two_way = bool(properties.get("RouteResponseSelectionExpression"))
        authorizer = None
        if properties.get("AuthorizationType") == "CUSTOM":
            authorizer = authorizers.get(str(properties.get("AuthorizerId")))
            if authorizer is None:
                warnings.append(f"{logical_id}: route {key} has no local authorizer; refused")
                continue
        routes[key] = WebSocketRoute(
            route_key=key, function=function, two_way=two_way, authorizer=authorizer
        )
    stages = [properties["StageName"] for properties in parts("AWS::ApiGatewayV2::Stage").values()]
    return WebSocketApiSpec(
        api_id=api_id,
        stage=scalar_string(stages[0]) if stages else "$default",
        route_selection_expression=api.get("RouteSelectionExpression", "$request.body.action"),
        routes=routes,
    )


# ---------------------------------------------------------------------- SQS event sources
def _sqs_sources(
    stack: Stack, resolver: Resolver, functions: dict[str, FunctionSpec], warnings: list[str]
) -> list[SqsSourceSpec]:
    """SAM CLI reads no event source mappings: the functions' SQS events and the template's
    AWS::Lambda::EventSourceMapping resources, read here."""
    queues = _of_type(stack, "AWS::SQS::Queue")
    queue_by_arn = {resolver.symbols.physical[q].attributes["Arn"]: q for q in queues}
    sources: list[tuple[str, dict[str, Any]]] = []
    for logical_id in functions:
        events = (stack.resources[logical_id].get("Properties") or {}).get("Events") or {}
        sources += [
            (logical_id, event.get("Properties") or {})
            for event in events.values()
            if event.get("Type") == "SQS"
        ]
    for properties in _of_type(stack, "AWS::Lambda::EventSourceMapping").values():
        function = _invoked_function(properties.get("FunctionName"), functions)
        if function is not None:
            sources.append((function, {**properties, "Queue": properties.get("EventSourceArn")}))
    specs = []
    for function, event in sources:
        queue = queue_by_arn.get(event.get("Queue"))
        if queue is None:
            warnings.append(f"{function}: event source {event.get('Queue')} is not a queue here")
            continue
        if event.get("Enabled") is False:
            continue
        if event.get("FilterCriteria"):
            warnings.append(f"{function}: FilterCriteria of its SQS event source are ignored")
        specs.append(_sqs_source(function, queue, queues[queue], event, resolver))
    return specs


def _sqs_source(
    function: str, queue: str, queue_properties: dict[str, Any], event: dict[str, Any], resolver
) -> SqsSourceSpec:
    physical = resolver.symbols.physical[queue]
    return SqsSourceSpec(
        function=function,
        queue_logical_id=queue,
        queue_url=physical.ref,
        queue_arn=physical.attributes["Arn"],
        fifo=bool(queue_properties.get("FifoQueue", False)),
        batch_size=int(event.get("BatchSize", 10)),
        batching_window=float(event.get("MaximumBatchingWindowInSeconds", 0)),
        report_batch_item_failures="ReportBatchItemFailures"
        in (event.get("FunctionResponseTypes") or []),
        maximum_concurrency=_int_or_none(
            (event.get("ScalingConfig") or {}).get("MaximumConcurrency")
        ),
    )


def _int_or_none(value: Any) -> int | None:
    """A number property that may be a parameter's value (a string), or None."""
    return None if value is None else int(value)


# ---------------------------------------------------------------------- DynamoDB Streams
def _stream_sources(
    stack: Stack, resolver: Resolver, functions: dict[str, FunctionSpec], warnings: list[str]
) -> list[StreamSourceSpec]:
    """The functions' `DynamoDB` events and the mappings whose source is a table's stream."""
    tables = _of_type(stack, "AWS::DynamoDB::Table")
    table_by_stream = {resolver.symbols.physical[t].attributes.get("StreamArn"): t for t in tables}
    queue_url_by_arn = {
        resolver.symbols.physical[q].attributes["Arn"]: resolver.symbols.physical[q].ref
        for q in _of_type(stack, "AWS::SQS::Queue")
    }
    sources: list[tuple[str, dict[str, Any]]] = []
    for logical_id in functions:
        events = (stack.resources[logical_id].get("Properties") or {}).get("Events") or {}
        sources += [
            (logical_id, event.get("Properties") or {})
            for event in events.values()
            if event.get("Type") == "DynamoDB"
        ]
    for properties in _of_type(stack, "AWS::Lambda::EventSourceMapping").values():
        function = _invoked_function(properties.get("FunctionName"), functions)
        source = properties.get("EventSourceArn")
        if function is not None and isinstance(source, str) and source in table_by_stream:
            sources.append((function, {**properties, "Stream": source}))
    specs = []
    for function, event in sources:
        stream = event.get("Stream")
        table = table_by_stream.get(stream) if isinstance(stream, str) else None
        if table is None:
            warnings.append(
                f"{function}: event source {event.get('Stream')} is not a table's stream here"
            )
            continue
        if event.get("Enabled") is False:
            continue
        if event.get("FilterCriteria"):
            warnings.append(f"{function}: FilterCriteria of its stream event source are ignored")
        destination = ((event.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
            "Destination"
        )
        if isinstance(destination, str) and destination not in queue_url_by_arn:
            warnings.append(f"{function}: on-failure destination {destination} is not a queue here")
        retries = _int_or_none(event.get("MaximumRetryAttempts"))
        specs.append(
            StreamSourceSpec(
                function=function,
                function_arn=functions[function].arn,
                table_logical_id=table,
                stream_arn=str(event["Stream"]),
                starting_position=str(event.get("StartingPosition", "LATEST")),
                batch_size=int(event.get("BatchSize", 100)),
                batching_window=float(event.get("MaximumBatchingWindowInSeconds", 0)),
                report_batch_item_failures="ReportBatchItemFailures"
                in (event.get("FunctionResponseTypes") or []),
                bisect_on_error=bool(event.get("BisectBatchOnFunctionError", False)),
                maximum_retry_attempts=None if retries is None or retries < 0 else retries,
                on_failure_queue_url=queue_url_by_arn.get(destination)
                if isinstance(destination, str)
                else None,
            )
        )
    return specs


# ---------------------------------------------------------------------- outputs
def _outputs(resolver: Resolver) -> dict[str, str]:
    outputs = {}
    for name, output in (resolver.template.get("Outputs") or {}).items():
        try:
            if output.get("Condition") and not resolver.condition(output["Condition"]):
                continue
            outputs[name] = scalar_string(resolver.resolve(output["Value"]))
        except TemplateError:
            continue
    return outputs
