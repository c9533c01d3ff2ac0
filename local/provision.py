"""Create the template's AWS resources in moto and record each one's physical identity.

Tables, queues, secrets, KMS keys/aliases and S3 buckets are created from their own
definitions in the template (a table or queue added there needs no change here). Resources moto does
not host for us (functions, APIs, layers, routes …) get a local identity only, so that
`Ref`/`Fn::GetAtt` on them resolve; anything else (alarms, permissions …) gets a
placeholder and is listed as not emulated.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local import s3
from local.symbols import (
    ACCOUNT_ID,
    PARTITION,
    NotCreatedYet,
    Physical,
    Resolver,
    TemplateError,
    scalar_string,
)
from local.template import create_table

TABLE_TYPE = "AWS::DynamoDB::Table"

# CloudFormation properties of AWS::SQS::Queue that are SQS queue attributes of the same name.
_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)
# GenerateSecretString options that GetRandomPassword takes as they are.
_PASSWORD_OPTIONS = (
    "ExcludeCharacters",
    "ExcludeLowercase",
    "ExcludeNumbers",
    "ExcludePunctuation",
    "ExcludeUppercase",
    "IncludeSpace",
    "PasswordLength",
    "RequireEachIncludedType",
)


@dataclass
class Provisioned:
    """What was created, by kind, for the banner and the model: logical id -> name/URL/id."""

    tables: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    buckets: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)  # SSM Parameter Store
    not_emulated: dict[str, str] = field(default_factory=dict)  # logical id -> type


def local_id(stack_name: str, logical_id: str, length: int = 10) -> str:
    """A stable, AWS-looking lowercase id (API ids, integration ids …)."""
    digest = hashlib.sha256(f"{stack_name}/{logical_id}".encode()).digest()
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[byte % len(alphabet)] for byte in digest[:length])


class Provisioner:
    def __init__(self, template: dict[str, Any], resolver: Resolver, client: Callable[[str], Any]):
        self.template = template
        self.resolver = resolver
        self.client = client  # service name -> boto3 client on moto
        self.physical = resolver.symbols.physical
        self.region = resolver.symbols.values["AWS::Region"]
        self.stack = resolver.symbols.values["AWS::StackName"]
        self.created = Provisioned()

    def run(self) -> Provisioned:
        resources = self.template["Resources"]
        wanted = [logical_id for logical_id in resources if self.resolver.is_created(logical_id)]
        # First what only needs an identity (functions, APIs, placeholders …), so that the
        # resources created in moto can refer to any of them.
        for logical_id in wanted:
            resource_type = resources[logical_id]["Type"]
            if resource_type not in _IN_MOTO and resource_type not in _LAYERS:
                create = _IDENTITIES.get(resource_type, Provisioner._placeholder)
                self.physical[logical_id] = create(self, logical_id, resources[logical_id])
        for logical_id in resources:
            if logical_id not in wanted:  # a false Condition: what refers to it is not used
                self.physical[logical_id] = Physical(f"{self.stack}-{logical_id}-not-created")
        for logical_id in wanted:
            if resources[logical_id]["Type"] in _IN_MOTO:
                self._create(logical_id, ())
        return self.created

    def _create(self, logical_id: str, path: tuple[str, ...]) -> None:
        """Create a resource in moto, after the ones it refers to (Ref, GetAtt, Sub, DependsOn)."""
        if logical_id in self.physical:
            return
        resource = self.template["Resources"][logical_id]
        if resource["Type"] not in _IN_MOTO:
            raise TemplateError(f"{' -> '.join(path)}: {logical_id} is not emulated locally")
        if logical_id in path:
            raise TemplateError(f"circular reference: {' -> '.join((*path, logical_id))}")
        depends_on = resource.get("DependsOn") or []
        for dependency in [depends_on] if isinstance(depends_on, str) else depends_on:
            if self.template["Resources"][dependency]["Type"] in _IN_MOTO:
                self._create(dependency, (*path, logical_id))
        while True:
            try:
                properties = self.resolver.resolve(resource.get("Properties") or {})
                break
            except NotCreatedYet as missing:
                self._create(missing.logical_id, (*path, logical_id))
        create = _IN_MOTO[resource["Type"]]
        self.physical[logical_id] = create(self, logical_id, properties)

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:{PARTITION}:{service}:{self.region}:{ACCOUNT_ID}:{resource}"

    # ------------------------------------------------------------------ DynamoDB
    def _table(self, logical_id: str, properties: dict[str, Any]) -> Physical:
        """Through `create_table`, as the integration tests create theirs."""
        dynamodb = self.client("dynamodb")
        table_name = create_table(dynamodb, properties, f"{self.stack}-{logical_id}")
        table = dynamodb.describe_table(TableName=table_name)["Table"]
        attributes = {"Arn": table["TableArn"]}
        if table.get("LatestStreamArn"):
            attributes["StreamArn"] = table["LatestStreamArn"]
        self.created.tables[logical_id] = table_name
        return Physical(table_name, attributes)

    # ------------------------------------------------------------------ SQS
    def _queue(self, logical_id: str, properties: dict[str, Any]) -> Physical:
        fifo = bool(properties.get("FifoQueue"))
        name = properties.get("QueueName") or f"{self.stack}-{logical_id}" + (
            ".fifo" if fifo else ""
        )
        attributes = {}
        for key in _QUEUE_ATTRIBUTES:
            if key in properties:
                value = properties[key]
                attributes[key] = (
                    json.dumps(value) if isinstance(value, dict) else scalar_string(value)
                )
        if "RedrivePolicy" in properties:
            policy = dict(properties["RedrivePolicy"])
            policy["maxReceiveCount"] = int(policy["maxReceiveCount"])
            attributes["RedrivePolicy"] = json.dumps(policy)
        kwargs: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
        tags = {tag["Key"]: tag["Value"] for tag in properties.get("Tags") or []}
        if tags:
            kwargs["tags"] = tags
        sqs = self.client("sqs")
        url = sqs.create_queue(**kwargs)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.created.queues[logical_id] = url
        return Physical(url, {"Arn": arn, "QueueName": name, "QueueUrl": url})

    # ------------------------------------------------------------------ Secrets Manager
    def _secret(self, logical_id: str, properties: dict[str, Any]) -> Physical:
        name = properties.get("Name") or f"{self.stack}-{logical_id}"
        kwargs: dict[str, Any] = {"Name": name, "SecretString": self._secret_value(properties)}
        for key in ("Description", "KmsKeyId"):
            if key in properties:
                kwargs[key] = properties[key]
        arn = self.client("secretsmanager").create_secret(**kwargs)["ARN"]
        self.created.secrets[logical_id] = arn
        return Physical(arn, {"Id": arn})

    def _secret_value(self, properties: dict[str, Any]) -> str:
        if "SecretString" in properties:
            return scalar_string(properties["SecretString"])
        generate = properties.get("GenerateSecretString")
        if generate is None:
            return ""
        options = {key: generate[key] for key in _PASSWORD_OPTIONS if key in generate}
        if "PasswordLength" in options:
            options["PasswordLength"] = int(options["PasswordLength"])
        password = self.client("secretsmanager").get_random_password(**options)["RandomPassword"]
        if "SecretStringTemplate" in generate:
            document = json.loads(generate["SecretStringTemplate"])
            document[generate["GenerateStringKey"]] = password
            return json.dumps(document)
        return password

    # ------------------------------------------------------------------ SSM Parameter Store
    def _parameter(self, logical_id: str, properties: dict[str, Any]) -> Physical:
        """A String parameter; named as CloudFormation would (the stack and logical id)
        when the template does not name it. `Ref` is its name, as on AWS."""
        name = properties.get("Name") or f"CFN-{self.stack}-{logical_id}"
        kwargs: dict[str, Any] = {
            "Name": name,
            "Type": properties.get("Type", "String"),
            "Value": scalar_string(properties["Value"]),
        }
        if "Description" in properties:
            kwargs["Description"] = properties["Description"]
        self.client("ssm").put_parameter(**kwargs)
        self.created.parameters[logical_id] = name
        return Physical(name, {"Type": kwargs["Type"], "Value": kwargs["Value"]})

    # ------------------------------------------------------------------ KMS
    def _key(self, logical_id: str, properties: dict[str, Any]) -> Physical:
        kwargs: dict[str, Any] = {}
        for key in ("Description", "KeyUsage", "KeySpec", "MultiRegion"):
            if key in properties:
                kwargs[key] = properties[key]
        if "KeyPolicy" in properties:
            policy = properties["KeyPolicy"]
            kwargs["Policy"] = policy if isinstance(policy, str) else json.dumps(policy)
        if properties.get("Tags"):
            kwargs["Tags"] = [
                {"TagKey": t["Key"], "TagValue": t["Value"]} for t in properties["Tags"]
            ]
        kms = self.client("kms")
        metadata = kms.create_key(**kwargs)["KeyMetadata"]
        key_id = metadata["KeyId"]
        if properties.get("EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=key_id)
        if properties.get("Enabled") is False:
            kms.disable_key(KeyId=key_id)
        self.created.keys[logical_id] = key_id
        return Physical(key_id, {"Arn": metadata["Arn"], "KeyId": key_id})

    def _alias(self, logical_id: str, properties: dict[str, Any]) -> Physical:
        self.client("kms").create_alias(
            AliasName=properties["AliasName"], TargetKeyId=properties["TargetKeyId"]
        )
        return Physical(properties["AliasName"])

    # ------------------------------------------------------------------ S3 (local.s3)
    def _bucket(self, logical_id: str, properties: dict[str, Any]) -> Physical:
        physical = s3.create_bucket(
            self.client("s3"), s3.bucket_name(self.stack, logical_id), properties
        )
        self.created.buckets[logical_id] = physical.ref
        return physical

    # ------------------------------------------------------------------ hosted by the local stack
    def _function(self, logical_id: str, resource: dict[str, Any]) -> Physical:
        name = (resource.get("Properties") or {}).get("FunctionName")
        name = scalar_string(self.resolver.resolve(name)) if name else f"{self.stack}-{logical_id}"
        return Physical(name, {"Arn": self._arn("lambda", f"function:{name}")})

    def _rest_api(self, logical_id: str, resource: dict[str, Any]) -> Physical:
        return Physical(
            local_id(self.stack, logical_id),
            {"RootResourceId": local_id(self.stack, logical_id + "/")},
        )

    def _api_v2(self, logical_id: str, resource: dict[str, Any]) -> Physical:
        api_id = local_id(self.stack, logical_id)
        protocol = (resource.get("Properties") or {}).get("ProtocolType", "HTTP")
        scheme = "wss" if protocol == "WEBSOCKET" else "https"
        endpoint = f"{scheme}://{api_id}.execute-api.{self.region}.amazonaws.com"
        return Physical(api_id, {"ApiId": api_id, "ApiEndpoint": endpoint})

    def _api_v2_part(self, logical_id: str, resource: dict[str, Any]) -> Physical:
        """Integrations, routes, deployments, stages, authorizers: an id for `Ref`."""
        return Physical(local_id(self.stack, logical_id, 7))

    def _placeholder(self, logical_id: str, resource: dict[str, Any]) -> Physical:
        self.created.not_emulated[logical_id] = resource["Type"]
        return Physical(f"{self.stack}-{logical_id}-local")


_IN_MOTO: dict[str, Callable[[Provisioner, str, dict[str, Any]], Physical]] = {
    TABLE_TYPE: Provisioner._table,
    "AWS::SQS::Queue": Provisioner._queue,
    "AWS::SecretsManager::Secret": Provisioner._secret,
    "AWS::KMS::Key": Provisioner._key,
    "AWS::KMS::Alias": Provisioner._alias,
    "AWS::SSM::Parameter": Provisioner._parameter,
    s3.BUCKET_TYPE: Provisioner._bucket,
}
# Layers: SAM CLI's function provider finds their code from SAM's own Ref of them.
_LAYERS = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
_IDENTITIES: dict[str, Callable[[Provisioner, str, dict[str, Any]], Physical]] = {
    "AWS::Serverless::Function": Provisioner._function,
    "AWS::Lambda::Function": Provisioner._function,
    "AWS::Serverless::Api": Provisioner._rest_api,
    "AWS::ApiGateway::RestApi": Provisioner._rest_api,
    "AWS::ApiGatewayV2::Api": Provisioner._api_v2,
    "AWS::ApiGatewayV2::Integration": Provisioner._api_v2_part,
    "AWS::ApiGatewayV2::Route": Provisioner._api_v2_part,
    "AWS::ApiGatewayV2::Deployment": Provisioner._api_v2_part,
    "AWS::ApiGatewayV2::Stage": Provisioner._api_v2_part,
    "AWS::ApiGatewayV2::Authorizer": Provisioner._api_v2_part,
}
