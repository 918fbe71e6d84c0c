"""Checks what template.yaml promises, on the CloudFormation that SAM makes of it, offline.

cfn-lint and `sam validate --lint` say the template is valid; this says it is the one we mean:
the public Function URL has both permissions, each role reaches only its own queue and secrets,
the queue's visibility timeout covers six processor timeouts plus the batching window, every
environment variable is one the functions read, every alarm notifies the optional topic and
watches what it says, the dashboard is valid JSON once substituted, and the README's deploy steps
name every parameter without a default and every output (and its "Operating it" section every
alarm).

Run with the project's venv (it has cfn-lint and SAM's translator): `make lint`.
"""

import json
import os
import pathlib
import re
import sys

from cfnlint.decode import decode
from samtranslator.translator.transform import transform

ROOT = pathlib.Path(__file__).resolve().parent.parent
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def ref(name):
    return {"Ref": name}


def statements(role):
    found = []
    for policy in role["Properties"].get("Policies", []):
        if "Fn::If" in policy:
            policy = policy["Fn::If"][1]
        found.extend(policy["PolicyDocument"]["Statement"])
    return found


def grants(role, action):
    """The resources that `role`'s inline policies grant `action` on."""
    resources = []
    for statement in statements(role):
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        if action in actions and statement["Effect"] == "Allow":
            resource = statement["Resource"]
            resources.extend(resource if isinstance(resource, list) else [resource])
    return resources


class NoManagedPolicies:
    """The template names managed policies by ARN only: nothing to look up in IAM."""

    def load(self):
        return {}


def sam_to_cloudformation(template):
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            # The translator wants the S3 location `sam package` would put there.
            resource["Properties"]["CodeUri"] = "s3://bucket/key"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return transform(template, {}, NoManagedPolicies())


def rust_string_literals():
    literals = set()
    for path in (ROOT / "functions").rglob("*.rs"):
        literals.update(re.findall(r'"([A-Z][A-Z0-9_]+)"', path.read_text()))
    return literals


ALARMS = {
    # alarm: (namespace, metric, statistic, dimension value, threshold)
    "DeadLettersAlarm": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum",
                         {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}, 1),
    "ReceiverErrorsAlarm": ("AWS/Lambda", "Url5xxCount", "Sum", ref("Receiver"), 1),
    "QueueAgeAlarm": ("AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum",
                      {"Fn::GetAtt": ["Queue", "QueueName"]}, ref("QueueAgeAlarmSeconds")),
    "ProcessorErrorsAlarm": ("AWS/Lambda", "Errors", "Sum", ref("Processor"), 1),
    "ProcessorThrottlesAlarm": ("AWS/Lambda", "Throttles", "Sum", ref("Processor"), 1),
}


def check_alarms(resources, parameters):
    alarms = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    check(set(alarms) == set(ALARMS) | {"FreshnessAlarm"}, f"alarms: {sorted(alarms)}")
    topic = {"Fn::If": ["HasAlarmTopic", [ref("AlarmTopicArn")], ref("AWS::NoValue")]}
    for name, alarm in alarms.items():
        for actions in ("AlarmActions", "OKActions"):
            check(alarm.get(actions) == topic, f"{name}: {actions} go to the optional SNS topic")
        check(alarm.get("TreatMissingData") == "notBreaching", f"{name}: no data is no breach")
    for name, (namespace, metric, statistic, dimension, threshold) in ALARMS.items():
        alarm = alarms.get(name, {})
        check((alarm.get("Namespace"), alarm.get("MetricName"), alarm.get("Statistic"))
              == (namespace, metric, statistic), f"{name}: watches {statistic} of {namespace} {metric}")
        check([d["Value"] for d in alarm.get("Dimensions", [])] == [dimension], f"{name}: of {dimension}")
        check(alarm.get("Threshold") == threshold, f"{name}: threshold {threshold}")
    freshness = alarms.get("FreshnessAlarm", {})
    lag = next((m for m in freshness.get("Metrics", []) if "MetricStat" in m), {}).get("MetricStat", {})
    check(lag.get("Stat") == "p99"
          and lag.get("Metric", {}).get("Namespace") == "ImmutaViewSync"
          and lag.get("Metric", {}).get("MetricName") == "FreshnessLag"
          and lag.get("Metric", {}).get("Dimensions") == [{"Name": "FunctionName", "Value": ref("Processor")}],
          "FreshnessAlarm: p99 of the processor's FreshnessLag")
    check(any(m.get("Expression") == "lag / 1000" and m.get("ReturnData") for m in freshness.get("Metrics", [])),
          "FreshnessAlarm: compares seconds (FreshnessLag is in milliseconds)")
    check((lag.get("Period"), freshness.get("EvaluationPeriods"), freshness.get("DatapointsToAlarm"))
          == (300, 2, 2), "FreshnessAlarm: two 5-minute periods out of two (the README's 10 minutes)")
    check(freshness.get("Threshold") == ref("FreshnessAlarmSeconds")
          and parameters["FreshnessAlarmSeconds"]["Default"] == 300,
          "FreshnessAlarm: threshold FreshnessAlarmSeconds, 5 minutes by default")


def check_dashboard(resources, parameters):
    body = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = set(parameters) | set(resources)

    def substitute(match):
        variable = match.group(1)
        check(variable.startswith("AWS::") or variable.split(".")[0] in names,
              f"dashboard: ${{{variable}}} names nothing in the template")
        return "300" if variable in parameters else variable

    try:
        dashboard = json.loads(re.sub(r"\$\{([^}]+)\}", substitute, body))
    except json.JSONDecodeError as e:
        check(False, f"dashboard: the body is not JSON once substituted: {e}")
        return
    shown = json.dumps([widget["properties"]["metrics"] for widget in dashboard["widgets"]])
    for expected in ("FreshnessLag", "ViewChanges", "Webhooks", "ImmutaRequests",
                     "ApproximateAgeOfOldestMessage", "ApproximateNumberOfMessagesVisible",
                     "DeadLetterQueue.QueueName", "Errors", "Throttles"):
        check(expected in shown, f"dashboard: shows {expected}")
    for widget in dashboard["widgets"]:
        check(widget["properties"].get("region") == "AWS::Region",
              f"dashboard: {widget['properties']['title']}: the stack's region")


def main():
    template, matches = decode(str(ROOT / "template.yaml"))
    if matches:
        sys.exit(f"template.yaml does not parse: {matches}")
    parameters = template["Parameters"]
    mappings = template["Mappings"]
    cfn = sam_to_cloudformation(template)
    resources = cfn["Resources"]

    receiver = resources["Receiver"]["Properties"]
    processor = resources["Processor"]["Properties"]
    for name, function in (("receiver", receiver), ("processor", processor)):
        check(function["Runtime"] == "provided.al2023", f"{name}: runtime")
        check(function["Architectures"] == ["arm64"], f"{name}: arm64")
        check("LoggingConfig" in function, f"{name}: its own log group")
    check(receiver["Timeout"] <= 6, "receiver: timeout well under Immuta's 10 s")

    # A public Function URL needs both permissions since October 2025.
    permissions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    check(
        any(p["Action"] == "lambda:InvokeFunctionUrl" and p["Principal"] == "*"
            and p.get("FunctionUrlAuthType") == "NONE" and p["FunctionName"] == ref("Receiver")
            for p in permissions),
        "receiver: lambda:InvokeFunctionUrl for principal *",
    )
    check(
        any(p["Action"] == "lambda:InvokeFunction" and p["Principal"] == "*"
            and p.get("InvokedViaFunctionUrl") is True and p["FunctionName"] == ref("Receiver")
            for p in permissions),
        "receiver: lambda:InvokeFunction for principal *, through the URL only",
    )
    urls = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Url"]
    check(urls == [{"AuthType": "NONE", "TargetFunctionArn": ref("Receiver")}], f"one public URL: {urls}")

    # Least privilege: each role reaches its own queue and its own secrets only.
    receiver_role, processor_role = resources["ReceiverRole"], resources["ProcessorRole"]
    check(grants(receiver_role, "sqs:SendMessage") == [{"Fn::GetAtt": ["Queue", "Arn"]}],
          "receiver: sqs:SendMessage on its queue only")
    check(grants(receiver_role, "secretsmanager:GetSecretValue") == [ref("WebhookSecretArn")],
          "receiver: reads the webhook secret only")
    check(sorted(map(str, grants(processor_role, "secretsmanager:GetSecretValue")))
          == sorted(map(str, [ref("ImmutaApiKeySecretArn"), ref("DatabaseUrlSecretArn")])),
          "processor: reads the API key and database URL only")
    check(grants(processor_role, "sqs:SendMessage") == [{"Fn::GetAtt": ["Queue", "Arn"]}],
          "processor: sends to its own queue only (the scheduled re-sync's fan-out)")
    check(grants(processor_role, "sqs:ChangeMessageVisibility") == [{"Fn::GetAtt": ["Queue", "Arn"]}],
          "processor: makes its own queue's records visible again (those a batch had no time for)")
    check(processor["Environment"]["Variables"]["QUEUE_URL"] == ref("Queue"),
          "processor: QUEUE_URL is its own queue")

    # The scheduled re-sync sends exactly the message the processor's sample event carries.
    schedule = resources["ResyncScheduler"]
    check(schedule.get("Condition") == "HasResyncSchedule", "schedule: can be turned off")
    target = schedule["Properties"]["Target"]
    check(target["Arn"] == {"Fn::GetAtt": ["Queue", "Arn"]}, "schedule: sends to the queue")
    sample = json.loads((ROOT / "events/lambda/sqs-scheduled-resync.json").read_text())
    check(json.loads(target["Input"]) == json.loads(sample["Records"][0]["body"]),
          "schedule: Input is the body of events/lambda/sqs-scheduled-resync.json")
    check(schedule["Properties"]["ScheduleExpression"] == ref("ResyncSchedule")
          and parameters["ResyncSchedule"]["Default"] == "rate(6 hours)",
          "schedule: every 6 hours unless ResyncSchedule says otherwise")
    scheduler_role = resources["ResyncScheduleRole"]
    check(grants(scheduler_role, "sqs:SendMessage") == [{"Fn::GetAtt": ["Queue", "Arn"]}],
          "schedule: its role sends to the queue only")

    mapping = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    check(len(mapping) == 1, "one SQS event source")
    mapping = mapping[0]
    check(mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"], "partial batch responses")
    for key in ("BatchSize", "MaximumBatchingWindowInSeconds"):
        check(mapping[key] == ref(key), f"event source: {key} is a parameter")
    check(mapping["ScalingConfig"] == {"MaximumConcurrency": ref("MaximumConcurrency")},
          "event source: MaximumConcurrency is a parameter")

    queue = resources["Queue"]["Properties"]
    dlq = resources["DeadLetterQueue"]["Properties"]
    check(queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
        "maxReceiveCount": ref("MaxReceiveCount"),
    }, "queue: redrive to the DLQ after MaxReceiveCount receives")
    check(parameters["MaxReceiveCount"]["Default"] == 5, "MaxReceiveCount defaults to 5")
    check(dlq["MessageRetentionPeriod"] == 14 * 24 * 3600, "DLQ keeps messages 14 days")
    check(queue.get("SqsManagedSseEnabled") and dlq.get("SqsManagedSseEnabled"), "queues: SSE on")
    check(queue["VisibilityTimeout"] == {"Fn::FindInMap": ["VisibilityTimeout", ref("ProcessorTimeout"), "Seconds"]},
          "queue: visibility timeout follows the processor timeout")
    window = parameters["MaximumBatchingWindowInSeconds"]["MaxValue"]
    for timeout in parameters["ProcessorTimeout"]["AllowedValues"]:
        seconds = mappings["VisibilityTimeout"].get(str(timeout), {}).get("Seconds", 0)
        check(seconds >= 6 * timeout + window,
              f"visibility timeout {seconds} s < 6 x {timeout} s + {window} s batching window")

    for group in ("ReceiverLogGroup", "ProcessorLogGroup"):
        check(resources[group]["Properties"]["RetentionInDays"] == ref("LogRetentionInDays"),
              f"{group}: retention is a parameter")
    check({"FunctionUrl", "QueueUrl", "DeadLetterQueueUrl"} <= set(cfn["Outputs"]), "outputs")

    # Every variable the template sets is one the code reads (`NAME_SECRET_ARN` names NAME), or
    # its libraries do (RUST_LOG: the log filter; ODBCSYSINI: unixODBC's configuration).
    literals = rust_string_literals()
    for name, function in (("receiver", receiver), ("processor", processor)):
        for variable in function["Environment"]["Variables"]:
            setting = variable.removesuffix("_SECRET_ARN")
            check(variable in ("RUST_LOG", "ODBCSYSINI") or setting in literals,
                  f"{name}: {variable} is not a setting the code reads")

    check_alarms(resources, parameters)
    check_dashboard(resources, parameters)

    readme = (ROOT / "README.md").read_text()
    deploy = readme.split("## Deploy", 1)[-1] if "## Deploy" in readme else ""
    check(deploy, "README: a '## Deploy' section")
    for name, parameter in parameters.items():
        if "Default" not in parameter:
            check(name in deploy, f"README deploy steps: parameter {name} is not mentioned")
    for name in cfn["Outputs"]:
        check(name in deploy, f"README deploy steps: output {name} is not mentioned")
    operating = readme.split("## Operating it", 1)[-1].split("\n## ", 1)[0] if "## Operating it" in readme else ""
    check(operating, "README: an '## Operating it' section")
    for name, resource in resources.items():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            check(name in operating, f"README 'Operating it': alarm {name} is not explained")

    if failures:
        print("template.yaml:", *failures, sep="\n  ", file=sys.stderr)
        sys.exit(1)
    print("template.yaml: functions, permissions, roles, queues and README agree")


if __name__ == "__main__":
    main()
