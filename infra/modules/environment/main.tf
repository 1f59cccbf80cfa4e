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

  test_ingress_cidrs = length(var.test_ingress_cidrs) > 0 ? var.test_ingress_cidrs : var.ingress_cidrs
  # Target group names are limited to 32 characters: keep room for "-green".
  target_group_prefix = substr(var.name, 0, 26)
}

# -- security groups -----------------------------------------------------------

resource "aws_security_group" "load_balancer" {
  name        = "${var.name}-lb"
  description = "bluegreen ${var.name}: who may reach the load balancer"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-lb" })

  ingress {
    description = "production listener"
    from_port   = var.listener_port
    to_port     = var.listener_port
    protocol    = "tcp"
    cidr_blocks = var.ingress_cidrs
  }

  dynamic "ingress" {
    for_each = local.alb ? [var.test_listener_port] : []
    content {
      description = "test listener (smoke checks of the idle colour)"
      from_port   = ingress.value
      to_port     = ingress.value
      protocol    = "tcp"
      cidr_blocks = local.test_ingress_cidrs
    }
  }

  egress {
    description = "health checks and requests to the instances"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_security_group" "instances" {
  name        = "${var.name}-instances"
  description = "bluegreen ${var.name}: the instances of both colours"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-instances" })

  ingress {
    description     = "the application, from the load balancer only"
    from_port       = var.instance_port
    to_port         = var.instance_port
    protocol        = "tcp"
    security_groups = [aws_security_group.load_balancer.id]
  }

  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

# -- Application Load Balancer ---------------------------------------------------

resource "aws_lb" "this" {
  count = local.alb ? 1 : 0

  name               = var.name
  load_balancer_type = "application"
  internal           = var.internal
  subnets            = var.subnet_ids
  security_groups    = [aws_security_group.load_balancer.id]

  drop_invalid_header_fields = true
  tags                       = local.tags
}

resource "aws_lb_target_group" "colour" {
  for_each = local.alb ? toset(local.colours) : toset([])

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

  load_balancer_arn = aws_lb.this[0].arn
  port              = var.listener_port
  protocol          = "HTTP"

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

resource "aws_lb_listener" "test" {
  count = local.alb ? 1 : 0

  load_balancer_arn = aws_lb.this[0].arn
  port              = var.test_listener_port
  protocol          = "HTTP"

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

  name            = var.name
  subnets         = var.subnet_ids
  security_groups = [aws_security_group.load_balancer.id]
  internal        = var.internal

  listener {
    lb_port           = var.listener_port
    lb_protocol       = "http"
    instance_port     = var.instance_port
    instance_protocol = "http"
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
