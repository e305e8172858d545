package scenario

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseRequestsSumsByOperation(t *testing.T) {
	text := `# HELP msgpipe_api_aws_requests_total HTTP requests sent to AWS.
# TYPE msgpipe_api_aws_requests_total counter
msgpipe_api_aws_requests_total{operation="GetParameter",service="SSM"} 1
msgpipe_api_aws_requests_total{operation="SendMessageBatch",service="SQS"} 140
msgpipe_api_aws_requests_total{operation="GetQueueAttributes",service="SQS"} 1
msgpipe_api_http_requests_total{code="200",method="POST",route="message"} 1000
`
	samples, err := parseSamples(strings.NewReader(text), "msgpipe_api_aws_requests_total")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range samples {
		if s.labels["service"] == "SQS" {
			got[s.labels["operation"]] += s.value
		}
	}
	want := map[string]float64{"SendMessageBatch": 140, "GetQueueAttributes": 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseRequests = %v, want %v", got, want)
	}
	rates := per1000(minus(got, map[string]float64{"GetQueueAttributes": 1}), 2000)
	if len(rates) != 1 || rates[0] != (OpRate{"SendMessageBatch", 70}) {
		t.Errorf("per1000 = %+v, want SendMessageBatch at 70", rates)
	}
	if _, err := parseSamples(strings.NewReader("msgpipe_api_aws_requests_total{service=\"SQS\"} x\n"), "msgpipe_api_aws_requests_total"); err == nil {
		t.Error("an unreadable sample parsed")
	}
	plain, err := parseSamples(strings.NewReader("msgpipe_consumer_receive_errors_total 3\nmsgpipe_consumer_receive_errors_total_other 9\n"), "msgpipe_consumer_receive_errors_total")
	if err != nil || len(plain) != 1 || plain[0].value != 3 {
		t.Errorf("a sample without labels: %+v, %v", plain, err)
	}
}
