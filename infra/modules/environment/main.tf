# One environment: the load balancer both colours share, a target group per
# colour, and the security groups. The colours' capacity (launch template +
# Auto Scaling Group) lives in infra/modules/slot, each in its own state.
#
# Co-ownership: Terraform creates the listeners; from then on bluegreen owns
# where they forward (weights on the production listener, the idle colour on
# the test listener). `ignore_changes = [default_action]` keeps a later
# `terraform apply` from ever moving traffic.

locals {
  alb     = var.load_balancer_type == "alb"
  colours = ["blue", "green"]
  idle    = var.live_colour == "blue" ? "green" : "blue"
  tags    = merge(var.tags, { environment = var.name, "managed-by" = "bluegreen" })

  https = var.certificate_arn != ""
  # With a certificate, production is HTTPS on https_port and listener_port
  # only redirects there; without one (the sandbox, a first try) it is HTTP.
  production_port     = local.https ? var.https_port : var.listener_port
  production_protocol = local.https ? "HTTPS" : "HTTP"
  lb_ports            = distinct(concat([var.listener_port], local.https ? [var.https_port] : []))
  # Target group names are limited to 32 characters: keep room for "-green".
  target_group_prefix = substr(var.name, 0, 26)
}

# -- security groups -----------------------------------------------------------
# Rules are separate resources so the two groups can name each other: the load
# balancer may reach the instances' port only, and the instances accept only
# the load balancer.

resource "aws_security_group" "load_balancer" {
  name        = "${var.name}-lb"
  description = "bluegreen ${var.name}: who may reach the load balancer"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-lb" })
}

resource "aws_security_group" "instances" {
  # checkov:skip=CKV2_AWS_5: attached by the slot module's launch template (another state), which checkov cannot follow
  name        = "${var.name}-instances"
  description = "bluegreen ${var.name}: the instances of both colours"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-instances" })
}

locals {
  # A rule names its peer: addresses (cidr_blocks) or the other group (peer_group).
  rule_defaults = { protocol = "tcp", cidr_blocks = null, peer_group = null }
  security_group_rules = { for key, rule in merge(
    {
      for p in local.lb_ports : "lb-in-${p}" => {
        group       = aws_security_group.load_balancer.id
        type        = "ingress"
        description = p == local.production_port ? "production listener" : "HTTP, redirected to HTTPS"
        port        = p
        cidr_blocks = var.ingress_cidrs
      }
    },
    # The test listener serves the colour that users do not see yet: only the
    # addresses bluegreen's smoke checks come from may reach it. None: no rule.
    local.alb && length(var.test_ingress_cidrs) > 0 ? {
      "lb-in-test" = {
        group       = aws_security_group.load_balancer.id
        type        = "ingress"
        description = "test listener (smoke checks of the idle colour)"
        port        = var.test_listener_port
        cidr_blocks = var.test_ingress_cidrs
      }
    } : {},
    {
      "lb-out-instances" = {
        group       = aws_security_group.load_balancer.id
        type        = "egress"
        description = "requests and health checks to the instances (application port)"
        port        = var.instance_port
        peer_group  = aws_security_group.instances.id
      }
      "instances-in-lb" = {
        group       = aws_security_group.instances.id
        type        = "ingress"
        description = "the application, from the load balancer only"
        port        = var.instance_port
        peer_group  = aws_security_group.load_balancer.id
      }
    },
    # What the instances may reach (README: egress). DNS, the instance metadata
    # service and NTP at the VPC's own addresses are never filtered by security
    # groups, so they need no rule.
    {
      for r in var.instance_egress : "instances-out-${r.description}" => {
        group       = aws_security_group.instances.id
        type        = "egress"
        description = r.description
        protocol    = r.protocol
        port        = r.port
        cidr_blocks = r.cidr_blocks
      }
    },
  ) : key => merge(local.rule_defaults, rule) }
}

resource "aws_security_group_rule" "rules" {
  for_each = local.security_group_rules

  security_group_id        = each.value.group
  type                     = each.value.type
  description              = each.value.description
  from_port                = each.value.port
  to_port                  = each.value.port
  protocol                 = each.value.protocol
  cidr_blocks              = each.value.cidr_blocks
  source_security_group_id = each.value.peer_group
}

# The rules of fixed name keep their state; those keyed by a port or a
# description (lb_production, instances_egress) cannot be mapped here, so they
# are replaced (README: Upgrading).
moved {
  from = aws_security_group_rule.lb_test[0]
  to   = aws_security_group_rule.rules["lb-in-test"]
}

moved {
  from = aws_security_group_rule.lb_to_instances
  to   = aws_security_group_rule.rules["lb-out-instances"]
}

moved {
  from = aws_security_group_rule.instances_from_lb
  to   = aws_security_group_rule.rules["instances-in-lb"]
}

# -- Application Load Balancer ---------------------------------------------------

resource "aws_lb" "this" {
  count = local.alb ? 1 : 0
  # checkov:skip=CKV2_AWS_28: WAF is the operator's choice: give waf_acl_arn to associate a web ACL
  # checkov:skip=CKV2_AWS_76: the web ACL's rules (waf_acl_arn) are the operator's
  # checkov:skip=CKV_AWS_91: access logs go to the operator's bucket, given as access_logs_bucket (optional)
  # checkov:skip=CKV2_AWS_20: HTTP redirects to HTTPS whenever certificate_arn is given (aws_lb_listener.redirect)

  name               = var.name
  load_balancer_type = "application"
  internal           = var.internal
  subnets            = var.subnet_ids
  security_groups    = [aws_security_group.load_balancer.id]

  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection

  dynamic "access_logs" {
    for_each = var.access_logs_bucket != "" ? [1] : []
    content {
      bucket  = var.access_logs_bucket
      prefix  = var.access_logs_prefix != "" ? var.access_logs_prefix : var.name
      enabled = true
    }
  }

  tags = local.tags
}

resource "aws_wafv2_web_acl_association" "this" {
  count = local.alb && var.waf_acl_arn != "" ? 1 : 0

  resource_arn = aws_lb.this[0].arn
  web_acl_arn  = var.waf_acl_arn
}

resource "aws_lb_target_group" "colour" {
  for_each = local.alb ? toset(local.colours) : toset([])
  # checkov:skip=CKV_AWS_378: TLS ends at the load balancer; the hop to the instances stays inside the VPC, restricted by security groups to the load balancer

  name                 = "${local.target_group_prefix}-${each.key}"
  vpc_id               = var.vpc_id
  port                 = var.instance_port
  protocol             = "HTTP"
  target_type          = "instance"
  deregistration_delay = var.deregistration_delay

  health_check {
    enabled             = true
    path                = var.health_check_path
    protocol            = "HTTP"
    port                = "traffic-port"
    matcher             = "200"
    interval            = var.health_check_interval
    timeout             = var.health_check_timeout
    healthy_threshold   = var.healthy_threshold
    unhealthy_threshold = var.unhealthy_threshold
  }

  tags = merge(local.tags, { colour = each.key })
}

resource "aws_lb_listener" "production" {
  count = local.alb ? 1 : 0
  # checkov:skip=CKV_AWS_2: HTTPS whenever certificate_arn is given; plain HTTP only without one (the sandbox), which `bluegreen validate` warns about
  # checkov:skip=CKV_AWS_103: with a certificate the policy is ssl_policy (TLS 1.2+ by default); without one there is no TLS

  load_balancer_arn = aws_lb.this[0].arn
  port              = local.production_port
  protocol          = local.production_protocol
  ssl_policy        = local.https ? var.ssl_policy : null
  certificate_arn   = local.https ? var.certificate_arn : null

  default_action {
    type = "forward"

    forward {
      dynamic "target_group" {
        for_each = local.colours
        content {
          arn    = aws_lb_target_group.colour[target_group.value].arn
          weight = target_group.value == var.live_colour ? 100 : 0
        }
      }
    }
  }

  # The weights are bluegreen's at run time (see the top of this file).
  lifecycle {
    ignore_changes = [default_action]
  }

  tags = local.tags
}

# With a certificate, the HTTP port answers with a permanent redirect to HTTPS.
resource "aws_lb_listener" "redirect" {
  count = local.alb && local.https ? 1 : 0
  # checkov:skip=CKV_AWS_2: this listener only redirects to HTTPS
  # checkov:skip=CKV_AWS_103: this listener only redirects to HTTPS

  load_balancer_arn = aws_lb.this[0].arn
  port              = var.listener_port
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      protocol    = "HTTPS"
      port        = tostring(var.https_port)
      status_code = "HTTP_301"
    }
  }

  tags = local.tags
}

resource "aws_lb_listener" "test" {
  count = local.alb ? 1 : 0
  # checkov:skip=CKV_AWS_2: HTTPS whenever certificate_arn is given; it is reachable from test_ingress_cidrs only
  # checkov:skip=CKV_AWS_103: with a certificate the policy is ssl_policy (TLS 1.2+ by default); without one there is no TLS

  load_balancer_arn = aws_lb.this[0].arn
  port              = var.test_listener_port
  protocol          = local.production_protocol
  ssl_policy        = local.https ? var.ssl_policy : null
  certificate_arn   = local.https ? var.certificate_arn : null

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.colour[local.idle].arn
  }

  # bluegreen points the test listener at whichever colour is idle.
  lifecycle {
    ignore_changes = [default_action]
  }

  tags = local.tags
}

# -- classic ELB ---------------------------------------------------------------------

resource "aws_elb" "this" {
  count = local.alb ? 0 : 1
  # checkov:skip=CKV_AWS_92: access logs go to the operator's bucket, given as access_logs_bucket (optional)
  # checkov:skip=CKV_AWS_376: HTTPS whenever certificate_arn is given; plain HTTP only without one, which `bluegreen validate` warns about
  # checkov:skip=CKV_AWS_127: the certificate is the operator's ACM certificate, given as certificate_arn

  name            = var.name
  subnets         = var.subnet_ids
  security_groups = [aws_security_group.load_balancer.id]
  internal        = var.internal

  listener {
    lb_port            = local.production_port
    lb_protocol        = local.https ? "https" : "http"
    instance_port      = var.instance_port
    instance_protocol  = "http"
    ssl_certificate_id = local.https ? var.certificate_arn : null
  }

  dynamic "access_logs" {
    for_each = var.access_logs_bucket != "" ? [1] : []
    content {
      bucket        = var.access_logs_bucket
      bucket_prefix = var.access_logs_prefix != "" ? var.access_logs_prefix : var.name
      enabled       = true
    }
  }

  health_check {
    target              = "HTTP:${var.instance_port}${var.health_check_path}"
    interval            = var.health_check_interval
    timeout             = var.health_check_timeout
    healthy_threshold   = var.healthy_threshold
    unhealthy_threshold = var.unhealthy_threshold
  }

  cross_zone_load_balancing   = true
  connection_draining         = true
  connection_draining_timeout = var.connection_draining_timeout

  tags = local.tags
}
