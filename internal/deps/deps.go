package deps
import (
_ "github.com/aws/aws-sdk-go-v2/aws"
_ "github.com/aws/aws-sdk-go-v2/config"
_ "github.com/aws/aws-sdk-go-v2/service/sqs"
_ "github.com/aws/aws-sdk-go-v2/service/s3"
_ "github.com/aws/aws-sdk-go-v2/service/ssm"
_ "github.com/aws/aws-sdk-go-v2/service/ecr"
_ "github.com/prometheus/client_golang/prometheus"
_ "github.com/prometheus/client_golang/prometheus/promhttp"
_ "github.com/prometheus/client_golang/prometheus/collectors"
_ "github.com/prometheus/client_golang/prometheus/testutil"
_ "github.com/julienschmidt/httprouter"
_ "github.com/google/go-containerregistry/pkg/v1/remote"
_ "github.com/google/go-containerregistry/pkg/v1/layout"
_ "github.com/google/go-containerregistry/pkg/registry"
_ "github.com/sivchari/kumo"
)
